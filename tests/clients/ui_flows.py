"""The web UI's flows in a real browser (Debian's Chromium, driven through ui_browser.py).

    $PYC/ui/bin/python ui_flows.py FLOW [--url http://127.0.0.1:PORT] [flow options]

Runs one flow and prints one JSON object on stdout: what the flow read, the accessibility
violations, the problems found and the timings measured (reported, never asserted). Exits 0 when
every check passed; 1 with the reasons on stderr (and in the JSON's "problems") otherwise; 2 on a
usage error. ``FLOW --help`` lists a flow's options.

Flows:
  dashboard  open URL/ and read the agent, task and framework counts (server-rendered, and live
             once the page's event stream is on); with --then-request and --then-running, make a
             change through the gateway and wait for the running count to follow without a reload.
  sweep      every page of the navigation and one detail page of each kind (a service, a node,
             a task, a job, an app): each has the layout, reads without JavaScript (its <h1> and
             rows are in the server's HTML), has no serious accessibility violation, and is
             pictured; and the keyboard: "g t" goes to the tasks page, "/" focuses the filter.
  selftest   the harness itself, against pages this script serves on loopback: an unlabelled
             <input> axe must report, a console error, a 404, a long task, a value that changes.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ui_browser as ub  # noqa: E402

# The dashboard's counts (issue 15's page contract): [data-stat=NAME] elements holding an integer.
STATS = ("agents-active", "agents-total", "tasks-running", "frameworks")
READ_STATS = """() => Object.fromEntries([...document.querySelectorAll('[data-stat]')]
    .map(e => [e.dataset.stat, e.textContent.trim()]))"""


class Report:
    """The JSON a flow prints: its readings, the problems found (each a sentence), timings."""

    def __init__(self, flow: str, url: str | None):
        self.out: dict = {"flow": flow, "url": url, "ok": False, "problems": [], "timings": {}}

    def problem(self, msg: str) -> None:
        self.out["problems"].append(msg)

    def __setitem__(self, k, v):
        self.out[k] = v

    def timing(self, k, v):
        self.out["timings"][k] = v


def ms_since(t0: float) -> float:
    return round((time.monotonic() - t0) * 1000, 1)


def read_stats(page) -> dict:
    """The dashboard's counts as integers; a missing one or one that is not an integer fails."""
    raw = page.evaluate(READ_STATS)
    missing = [s for s in STATS if s not in raw]
    if missing:
        raise ub.UiError(f"the page has no [data-stat] element for {missing} (it has {raw})")
    bad = {s: raw[s] for s in STATS if not raw[s].isdigit()}
    if bad:
        raise ub.UiError(f"[data-stat] text that is not an integer: {bad}")
    return {s: int(raw[s]) for s in STATS}


def expected_stats(args) -> dict:
    want = {"agents-active": args.agents, "agents-total": args.agents, "tasks-running": args.running}
    if args.frameworks is not None:
        want["frameworks"] = args.frameworks
    return want


def differs(seen: dict, want: dict) -> dict:
    return {k: {"want": v, "seen": seen.get(k)} for k, v in want.items() if seen.get(k) != v}


def http_request(method: str, url: str, body: str | None) -> tuple[int, str]:
    data = body.encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def page_checks(pg: ub.Page, rep: Report, name: str) -> None:
    """What every page is checked for: the layout, axe (serious or critical), the problems the
    page recorded; and its picture and figures. Run however the flow went, so a failed flow
    still says everything that differs from the contract."""
    seen, diffs = ub.check_layout(pg.page)
    rep["layout"] = seen
    for d in diffs:
        rep.problem(f"layout: {d}")
    violations = ub.axe_check(pg.page)
    rep["a11y"] = violations
    if violations:
        rep.problem(f"accessibility (axe, serious or critical): {ub.describe_violations(violations)}")
    rep["screenshot"] = ub.screenshot(pg.page, name)
    rep.timing("paint", ub.paint_timings(pg.page))
    rep.timing("navigation", ub.navigation_timing(pg.page))
    rep.timing("long_tasks", ub.long_tasks(pg.page))
    rep.timing("js_heap", ub.js_heap(pg.page))
    for p in pg.problems():
        rep.problem(p)
    rep["console"] = {"errors": pg.console_errors + pg.page_errors,
                      "failed_requests": pg.failed_requests + pg.bad_responses}


def flow_dashboard(args, rep: Report) -> None:
    url = args.url.rstrip("/") + "/"
    want = expected_stats(args)
    with ub.browser() as b:
        rep["browser"] = b.version

        # Without JavaScript: the counts the server rendered (reading works without JS).
        nojs = ub.Page.open(b, javascript=False)
        nojs.goto(url, timeout=args.timeout)
        try:
            rep["read_without_js"] = read_stats(nojs.page)
            d = differs(rep.out["read_without_js"], want)
            if d:
                rep.problem(f"the server-rendered counts differ from the cluster's: {d}")
        except ub.UiError as e:
            rep.problem(f"without JavaScript: {e}")
        nojs.close()

        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        t0 = time.monotonic()
        pg.goto(url, timeout=args.timeout)
        rep.timing("load_ms", ms_since(t0))
        try:
            dashboard_live(args, rep, pg, url, want, t0)
        finally:
            try:
                page_checks(pg, rep, "dashboard")
            except Exception as e:  # keep the flow's own error, if any, as the one reported
                rep.problem(f"the page's checks failed: {type(e).__name__}: {e}")
            pg.close()


def dashboard_live(args, rep: Report, pg: ub.Page, url: str, want: dict, t0: float) -> None:
    """The dashboard with JavaScript: live counts, and a change followed without a reload."""
    ub.wait_js(pg.page, "() => document.body && document.body.dataset.live === 'on'",
               'the page\'s event stream to connect (<body data-live="on">)',
               timeout=args.timeout,
               seen="document.body && document.body.getAttribute('data-live')")
    rep.timing("live_ms", ms_since(t0))
    rep["first_read"] = read_stats(pg.page)
    # The page is live: it shows the cluster's counts (at once, unless the cluster changed
    # between the server's rendering and the stream's start).
    ub.wait_js(pg.page,
               f"(want) => {{ const s = ({READ_STATS})(); "
               "return Object.entries(want).every(([k, v]) => s[k] === String(v)); }",
               f"the counts {want}", arg=want, timeout=args.timeout, seen=f"({READ_STATS})()")
    rep["read"] = read_stats(pg.page)
    if not args.then_request:
        return
    method, path, body = args.then_request
    # A reload would lose the marker and show up as a navigation of the main frame.
    pg.page.evaluate("() => { window.__marker = 1; }")
    navigations = len(pg.navigations)
    target = urllib.parse.urljoin(url, path)
    t1 = time.monotonic()
    status, text = http_request(method, target, body)
    rep["change"] = {"method": method, "url": target, "status": status}
    if not 200 <= status < 300:
        raise ub.UiError(f"{method} {target} answered {status}: {text[:500]}")
    if args.then_running is None:
        return
    k = args.then_running
    ub.wait_js(pg.page,
               "(k) => { const e = document.querySelector('[data-stat=\"tasks-running\"]');"
               " return e && e.textContent.trim() === String(k); }",
               f"tasks-running to become {k} without a reload", arg=k,
               timeout=args.timeout, seen=f"({READ_STATS})()")
    rep.timing("change_seen_ms", ms_since(t1))
    after = read_stats(pg.page)
    survived = pg.page.evaluate("() => window.__marker === 1")
    rep["after"] = {**after, "marker_survived": survived,
                    "navigations": pg.navigations[navigations:]}
    if not survived or len(pg.navigations) != navigations:
        rep.problem(f"the page reloaded to show the change (marker survived: {survived},"
                    f" navigations: {pg.navigations[navigations:]})")
    if pg.page.evaluate("() => document.body.dataset.live") != "on":
        rep.problem('after the change, <body data-live> is no longer "on"')


# --- selftest: the harness against pages served here ---------------------------------------------

SELFTEST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Self test · Drover</title></head>
<body data-live="off">
<nav aria-label="Main"><ul>
 <li><a href="/">Dashboard</a></li><li><a href="/ui/services">Services</a></li>
 <li><a href="/ui/apps">Apps</a></li><li><a href="/ui/deployments">Deployments</a></li>
 <li><a href="/ui/nodes">Nodes</a></li><li><a href="/ui/tasks">Tasks</a></li>
 <li><a href="/ui/packages">Packages</a></li><li><a href="/ui/jobs">Jobs</a></li>
 <li><a href="/ui/resources">Resources</a></li></ul></nav>
<main id="main"><h1>Self test</h1>
 <p>Running: <span data-stat="tasks-running">0</span></p>
 <form><input type="text" name="unlabelled"></form>
</main>
<script>
  console.error("selftest console error");
  fetch("/missing");
  setTimeout(() => {
    const end = performance.now() + 120; while (performance.now() < end) {}  // a long task
    document.querySelector('[data-stat="tasks-running"]').textContent = "5";
    document.body.dataset.live = "on";
  }, 200);
</script>
</body></html>
"""
BARE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bare</title></head>
<body><p>No navigation, no main.</p></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    pages = {"/": SELFTEST_PAGE, "/bare": BARE_PAGE}

    def do_GET(self):
        page = self.pages.get(self.path)
        body = (page or "not found").encode()
        self.send_response(200 if page else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8" if page else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def flow_selftest(args, rep: Report) -> None:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    rep["url"] = url

    def check(cond, msg):
        if not cond:
            rep.problem(msg)

    try:
        with ub.browser() as b:
            rep["browser"] = b.version
            pg = ub.Page.open(b)
            ub.watch_long_tasks(pg.page)
            pg.goto(url)
            pg.page.evaluate("() => { window.__marker = 1; }")
            ub.wait_js(pg.page, "() => document.body.dataset.live === 'on'", "data-live on",
                       timeout=args.timeout)
            v = ub.wait_js(pg.page,
                           "() => { const t = document.querySelector('[data-stat=\"tasks-running\"]')"
                           ".textContent; return t === '5' && t; }", "the count to become 5",
                           timeout=args.timeout)
            check(v == "5", f"wait_js returned {v!r}, not the condition's value '5'")
            check(pg.page.evaluate("() => window.__marker") == 1 and len(pg.navigations) == 1,
                  f"the marker did not survive, or navigations: {pg.navigations}")
            try:
                ub.wait_js(pg.page, "() => false", "something that never happens", timeout=0.3,
                           seen="document.title")
                rep.problem("wait_js did not fail at its deadline")
            except ub.UiError as e:
                check("something that never happens" in str(e) and "Self test" in str(e),
                      f"wait_js's failure does not say what and what was seen: {e}")
            try:
                ub.wait_until(lambda: None, "nothing", timeout=0.2)
                rep.problem("wait_until did not fail at its deadline")
            except ub.UiError:
                pass

            seen, diffs = ub.check_layout(pg.page)
            check(diffs == [], f"check_layout finds differences on a conforming page: {diffs}")
            violations = ub.axe_check(pg.page)
            rep["a11y"] = violations
            check(any(v["id"] == "label" and any(n.startswith("input") for n in v["nodes"])
                      for v in violations),
                  f"axe did not report the unlabelled <input> (violations: {violations})")
            # The harness sees what went wrong on the page.
            rep["console"] = {"errors": pg.console_errors, "failed_requests": pg.bad_responses}
            check(any("selftest console error" in m for m in pg.console_errors),
                  f"the console error was not collected: {pg.console_errors}")
            check(any("/missing: 404" in m for m in pg.bad_responses),
                  f"the 404 was not collected: {pg.bad_responses}")

            paint = ub.paint_timings(pg.page)
            nav = ub.navigation_timing(pg.page)
            lt = ub.long_tasks(pg.page)
            heap = ub.js_heap(pg.page)
            rep.timing("paint", paint)
            rep.timing("navigation", nav)
            rep.timing("long_tasks", lt)
            rep.timing("js_heap", heap)
            check("first-contentful-paint" in paint, f"no first contentful paint: {paint}")
            check(nav.get("decoded_bytes") == len(SELFTEST_PAGE.encode()),
                  f"navigation_timing's size is not the page's: {nav}")
            check(any(t["duration"] >= 100 for t in lt), f"the long task was not seen: {lt}")
            check(heap["used"] > 0, f"no heap figure: {heap}")

            # Screenshots: none unless asked for; one where asked.
            saved = os.environ.pop("DROVER_UI_SCREENSHOTS", None)
            try:
                check(ub.screenshot(pg.page, "selftest") is None,
                      "screenshot wrote a file without DROVER_UI_SCREENSHOTS")
                with tempfile.TemporaryDirectory() as d:
                    os.environ["DROVER_UI_SCREENSHOTS"] = d
                    path = ub.screenshot(pg.page, "selftest")
                    check(path is not None and os.path.getsize(path) > 1000 and
                          open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
                          f"no PNG at {path}")
            finally:
                os.environ.pop("DROVER_UI_SCREENSHOTS", None)
                if saved is not None:
                    os.environ["DROVER_UI_SCREENSHOTS"] = saved
            pg.close()

            bare = ub.Page.open(b, javascript=False)
            bare.goto(url + "bare")
            _, diffs = ub.check_layout(bare.page)
            rep["bare_layout"] = diffs
            for want in ("does not end with", 'no <nav aria-label="Main">', 'no <main id="main">'):
                check(any(want in d for d in diffs), f"check_layout missed {want!r}: {diffs}")
            bare.close()
            p404 = ub.Page.open(b)
            try:
                p404.goto(url + "nowhere")
                rep.problem("goto did not fail on a 404")
            except ub.UiError as e:
                check("404" in str(e), f"goto's failure does not say 404: {e}")
            p404.close()
    finally:
        srv.shutdown()


# The navigation's pages (name for the picture, path), then detail pages found by following the
# first link of a list page that matches a prefix.
SWEEP_PAGES = [("dashboard", "/"), ("services", "/ui/services"), ("apps", "/ui/apps"),
               ("deployments", "/ui/deployments"), ("nodes", "/ui/nodes"), ("tasks", "/ui/tasks"),
               ("packages", "/ui/packages"), ("jobs", "/ui/jobs"), ("resources", "/ui/resources")]
SWEEP_DETAILS = [("service", "/ui/services", "/ui/services/"), ("node", "/ui/nodes", "/ui/nodes/"),
                 ("task", "/ui/tasks", "/ui/tasks/"), ("job", "/ui/jobs", "/ui/jobs/"),
                 # A text filter lists apps flat, out of their folders.
                 ("app", "/ui/apps?q=web", "/ui/apps/")]
# The pages only the sweep pictures (the other pages' flows picture them in a telling state).
SWEEP_PICTURES = {"services", "service", "nodes", "node"}
FIRST_LINK = """(prefix) => { const a = [...document.querySelectorAll('main a[href]')]
    .map(a => a.getAttribute('href')).find(h => h.startsWith(prefix) && h !== prefix
        && !h.startsWith(prefix + 'new') && !h.includes('?'));
    return a || null; }"""


def sweep_page(b, rep: Report, base: str, name: str, path: str, timeout: float) -> None:
    """One page: read without JavaScript, then with it: layout, axe, picture."""
    out: dict = {"path": path}
    rep.out.setdefault("pages", {})[name] = out
    nojs = ub.Page.open(b, javascript=False)
    try:
        nojs.goto(base + path, timeout=timeout)
        h1 = nojs.page.evaluate("() => document.querySelector('main h1')?.textContent.trim() || null")
        out["h1_without_js"] = h1
        if not h1:
            rep.problem(f"{path}: no <h1> in the server's HTML (it must read without JavaScript)")
    finally:
        nojs.close()
    pg = ub.Page.open(b)
    try:
        pg.goto(base + path, timeout=timeout)
        seen, diffs = ub.check_layout(pg.page)
        for d in diffs:
            rep.problem(f"{path}: layout: {d}")
        violations = ub.axe_check(pg.page)
        out["a11y"] = violations
        if violations:
            rep.problem(f"{path}: accessibility (axe, serious or critical): "
                        f"{ub.describe_violations(violations)}")
        if name in SWEEP_PICTURES:
            out["screenshot"] = ub.screenshot(pg.page, name)
        out["paint"] = ub.paint_timings(pg.page)
        for p in pg.problems():
            rep.problem(f"{path}: {p}")
    finally:
        pg.close()


def flow_sweep(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    with ub.browser() as b:
        rep["browser"] = b.version
        for name, path in SWEEP_PAGES:
            sweep_page(b, rep, base, name, path, args.timeout)
        for name, listing, prefix in SWEEP_DETAILS:
            pg = ub.Page.open(b, javascript=False)
            try:
                pg.goto(base + listing, timeout=args.timeout)
                href = pg.page.evaluate(FIRST_LINK, prefix)
            finally:
                pg.close()
            if not href:
                rep.problem(f"{listing} links to no {name} page (a cluster with one was expected)")
                continue
            sweep_page(b, rep, base, name, href, args.timeout)
        # The keyboard: "g t" goes to the tasks page, "/" focuses the filter there.
        pg = ub.Page.open(b)
        try:
            pg.goto(base + "/", timeout=args.timeout)
            pg.page.keyboard.press("g")
            pg.page.keyboard.press("t")
            ub.wait_js(pg.page, "() => location.pathname === '/ui/tasks'",
                       '"g t" to go to the tasks page', timeout=args.timeout,
                       seen="location.pathname")
            pg.page.wait_for_load_state()
            pg.page.keyboard.press("/")
            focused = pg.page.evaluate("() => document.activeElement?.getAttribute('name')")
            rep["keyboard"] = {"g t": "/ui/tasks", "/ focuses": focused}
            if focused != "q":
                rep.problem(f'"/" on the tasks page focused {focused!r}, not the filter')
        finally:
            pg.close()


FLOWS = {"dashboard": flow_dashboard, "sweep": flow_sweep, "selftest": flow_selftest}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="flow", required=True, metavar="FLOW")
    d = sub.add_parser("dashboard", help="read the dashboard's counts, then watch one change")
    d.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
    d.add_argument("--agents", type=int, required=True, help="agents expected (active and total)")
    d.add_argument("--running", type=int, required=True, help="running tasks expected")
    d.add_argument("--frameworks", type=int, help="frameworks expected (not checked without)")
    d.add_argument("--then-request", nargs=3, metavar=("METHOD", "PATH", "BODY"),
                   help="after the first read, send this request (PATH relative to --url, so"
                        " through the gateway; BODY JSON), e.g. PUT"
                        " /service/marathon/v2/apps/web '{\"instances\": 3}'")
    d.add_argument("--then-running", type=int, metavar="K",
                   help="after --then-request, wait for tasks-running to become K without a reload")
    w = sub.add_parser("sweep", help="every page: layout, no-JS reading, axe, picture; keyboard")
    w.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
    s = sub.add_parser("selftest", help="check the harness against pages served here")
    for p in (d, w, s):
        p.add_argument("--timeout", type=float, default=30.0,
                       help="seconds each wait may take (default 30)")
    return ap


def run(flows: dict, args) -> int:
    """Run the flow `args.flow` names, print its report, and give the exit code: what every
    flows script's main does."""
    rep = Report(args.flow, getattr(args, "url", None))
    error = None
    try:
        flows[args.flow](args, rep)
    except ub.UiError as e:
        error = str(e)
    except Exception as e:  # the browser or the driver broke: say so, as a failure
        error = f"{type(e).__name__}: {e}"
    if error:
        rep["error"] = error
    rep["ok"] = error is None and not rep.out["problems"]
    print(json.dumps(rep.out, indent=1), flush=True)
    if not rep.out["ok"]:
        why = [error] if error else []
        why += rep.out["problems"]
        print(f"ui flow {args.flow} failed:\n  - " + "\n  - ".join(why), file=sys.stderr)
        return 1
    return 0


def main() -> int:
    args = parser().parse_args()
    if args.flow == "dashboard" and args.then_running is not None and not args.then_request:
        parser().error("--then-running needs --then-request (the change to wait for)")
    return run(FLOWS, args)


if __name__ == "__main__":
    sys.exit(main())
