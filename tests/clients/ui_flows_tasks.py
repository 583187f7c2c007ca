"""The web UI's Tasks flows in a real browser (Debian's Chromium, through ui_browser.py), against
the gateway of ``drover up``.

    $PYC/ui/bin/python ui_flows_tasks.py tasks --url http://127.0.0.1:PORT --name NAME --running N

Runs the flow and prints one JSON object on stdout (what it read, each page's accessibility
violations and problems, timings); exits 0 when every check passed, 1 with the reasons on stderr
otherwise. The flow, for a task named NAME whose stdout prints ``line <counter>`` lines:

  - the tasks page, filtered by name with its form: only NAME's tasks; by state and host: only
    running tasks on that host (N of them), then the one agent's, then none for a host that is not;
  - the task's page, opened from the table: the stdout panel's lines, then a line with a higher
    counter appearing without a reload, over the tab's one event stream; the same page without
    JavaScript shows the last lines the server rendered; the stderr choice;
  - the sandbox from the task's page, and ``stdout`` opened in the file view (its download link
    answers through the gateway); a path leaving the sandbox is refused with 400, naming the field;
  - the log panel's bound: 6,000 lines more leave at most 5,000 in the page.

Each page is checked as ui_flows.page_checks checks every page: the layout, axe (no serious or
critical violation), console errors and failed requests. Pictures: tasks, task, sandbox, file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ui_browser as ub  # noqa: E402
from ui_flows import Report, http_request, ms_since, page_checks, run  # noqa: E402

READ_ROWS = """() => [...document.querySelectorAll('tr[data-key^="task:"]')].map(r => ({
  id: r.dataset.key.slice(5),
  name: r.querySelector('td a').textContent.trim(),
  state: r.dataset.state,
  host: r.querySelectorAll('td')[3].textContent.trim(),
  agent: new URL(r.querySelectorAll('td')[3].querySelector('a').href).pathname.split('/').pop(),
}))"""
# The highest `line <n>` counter in the log panel (-1: none).
MAX_COUNTER = """() => {
  const t = (document.getElementById('log-text') || {}).textContent || '';
  let m = -1;
  for (const x of t.matchAll(/line (\\d+)/g)) m = Math.max(m, Number(x[1]));
  return m;
}"""
LOG_LINES = "() => ((document.getElementById('log-text') || {}).textContent || '').split('\\n').length - 1"


def checks(pg: ub.Page, rep: Report, name: str) -> None:
    """page_checks into a report of the page's own (the flow checks several pages), its problems
    also the flow's."""
    sub = Report(name, pg.page.url)
    try:
        page_checks(pg, sub, name)
    except Exception as e:  # keep the flow's own error, if any, as the one reported
        sub.problem(f"the page's checks failed: {type(e).__name__}: {e}")
    rep.out.setdefault("pages", {})[name] = sub.out
    for p in sub.out["problems"]:
        rep.problem(f"{name}: {p}")


def open_page(b, url: str, timeout: float, javascript: bool = True) -> ub.Page:
    pg = ub.Page.open(b, javascript=javascript)
    if javascript:
        ub.watch_long_tasks(pg.page)
    pg.goto(url, timeout=timeout)
    return pg


def filter_tasks(pg: ub.Page, timeout: float, **fields) -> list[dict]:
    """Fill the tasks page's filter form (by its labels, as a user would) and submit it; the
    rows of the page it leads to."""
    form = pg.page.get_by_role("search", name="Filter tasks")
    if "name" in fields:
        form.get_by_label("Name or id").fill(fields["name"])
    if "state" in fields:
        form.get_by_label("State").select_option(fields["state"])
    if "host" in fields:
        form.get_by_label("Host").fill(fields["host"])
    with pg.page.expect_navigation(timeout=timeout * 1000):
        form.get_by_role("button", name="Filter").click()
    return pg.page.evaluate(READ_ROWS)


def flow_tasks(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    with ub.browser() as b:
        rep["browser"] = b.version

        # --- the tasks page and its filters ---
        pg = open_page(b, f"{base}/ui/tasks", args.timeout)
        try:
            by_name = filter_tasks(pg, args.timeout, name=args.name)
            rep["rows_by_name"] = by_name
            if not by_name:
                raise ub.UiError(f"filtering by name {args.name!r} left no rows")
            others = [r["name"] for r in by_name if args.name not in r["name"]]
            if others:
                rep.problem(f"filtered by name {args.name!r}, the table shows {others}")
            mine = by_name[0]
            rep["url_by_name"] = pg.page.url
            host = mine["host"]
            running = filter_tasks(pg, args.timeout, name="", state="TASK_RUNNING", host=host)
            rep["rows_running_on_host"] = running
            wrong = [r for r in running if r["state"] != "TASK_RUNNING" or r["host"] != host]
            if wrong or len(running) != args.running:
                rep.problem(f"filtered by TASK_RUNNING on {host}: {len(running)} rows (want "
                            f"{args.running}), of which not so: {wrong}")
            on_agent = filter_tasks(pg, args.timeout, host=mine["agent"])
            rep["rows_on_agent"] = on_agent
            if not on_agent or any(r["agent"] != mine["agent"] for r in on_agent):
                rep.problem(f"filtered by agent {mine['agent']}: {on_agent}")
            nowhere = filter_tasks(pg, args.timeout, host="no-such-host")
            said = pg.page.get_by_text("No tasks match.").count()
            rep["rows_nowhere"] = len(nowhere)
            if nowhere or said != 1:
                rep.problem(f"filtered by a host that is not: {len(nowhere)} rows, 'No tasks "
                            f"match.' said {said} times")
            # Back to the name's table, for its picture and to open the task from it.
            pg.goto(rep.out["url_by_name"], timeout=args.timeout)
        finally:
            checks(pg, rep, "tasks")

        # --- the task's page: its log, live ---
        # The event streams the page opens, as the browser sends them (Resource Timing lists a
        # request only once it has ended, which a live stream has not).
        streams: list[str] = []
        pg.page.on("request", lambda r: streams.append(r.url) if "/ui/events" in r.url else None)
        t0 = time.monotonic()
        with pg.page.expect_navigation(timeout=args.timeout * 1000):
            pg.page.locator(f'tr[data-key="task:{mine["id"]}"] td:first-child a').click()
        task_url = pg.page.url
        rep["task_url"] = task_url
        try:
            task_live(args, rep, pg, t0, streams)
        finally:
            checks(pg, rep, "task")
        pg.close()

        # --- the same page without JavaScript: the server rendered the log's last lines ---
        nojs = open_page(b, task_url, args.timeout, javascript=False)
        rep["without_js"] = {
            "max_counter": nojs.page.evaluate(MAX_COUNTER),
            "follow_hidden": nojs.page.locator(".log-controls").is_hidden(),
        }
        if rep.out["without_js"]["max_counter"] < 0:
            rep.problem("without JavaScript, the log panel shows no 'line <n>'")
        if not rep.out["without_js"]["follow_hidden"]:
            rep.problem("without JavaScript, the Follow control (which needs it) is shown")
        nojs.page.get_by_role("navigation", name="Log file").get_by_role("link", name="stderr").click()
        nojs.page.wait_for_url("**log=stderr**", timeout=args.timeout * 1000)
        chosen = nojs.page.evaluate(
            "() => [document.querySelector('[data-log]').dataset.log,"
            " document.querySelector('nav[aria-label=\"Log file\"] [aria-current=page]').textContent]")
        rep["stderr_choice"] = chosen
        if not (chosen[0].endswith(":stderr") and chosen[1] == "stderr"):
            rep.problem(f"after choosing stderr, the panel is {chosen}")
        for p in nojs.problems():
            rep.problem(f"task page without JavaScript: {p}")
        nojs.close()

        # --- the sandbox, and stdout in the file view ---
        pg = open_page(b, task_url, args.timeout)
        with pg.page.expect_navigation(timeout=args.timeout * 1000):
            pg.page.get_by_role("link", name="Browse the sandbox").click()
        try:
            names = pg.page.evaluate(
                "() => [...document.querySelectorAll('table.files tbody td:first-child a')]"
                ".map(a => a.textContent.trim())")
            rep["sandbox_entries"] = names
            for want in ("stdout", "stderr"):
                if want not in names:
                    rep.problem(f"the sandbox lists no {want} (it lists {names})")
        finally:
            checks(pg, rep, "sandbox")
        with pg.page.expect_navigation(timeout=args.timeout * 1000):
            pg.page.locator("table.files").get_by_role("link", name="stdout", exact=True).click()
        try:
            view = pg.page.evaluate(
                """async () => {
                  const a = [...document.querySelectorAll('a[download]')][0];
                  const r = a ? await fetch(a.href) : null;
                  const body = r ? await r.text() : '';
                  return {h1: document.querySelector('h1').textContent,
                          text: document.querySelector('pre').textContent.slice(-200),
                          download: a ? a.getAttribute('href') : null,
                          download_status: r ? r.status : null,
                          download_has_line_0: body.includes('line 0\\n')};
                }""")
            rep["file_view"] = view
            if view["h1"] != "stdout" or "line " not in view["text"]:
                rep.problem(f"the file view of stdout shows {view['h1']!r}: {view['text']!r}")
            if not (view["download"] or "").startswith("/agent/") or view["download_status"] != 200 \
                    or not view["download_has_line_0"]:
                rep.problem(f"the download link: {view}")
        finally:
            checks(pg, rep, "file")
        pg.close()

        # --- paths that leave the sandbox ---
        task_path = urllib.parse.urlparse(task_url).path
        refused = {}
        for bad in ("../../etc", "/etc/passwd"):
            status, text = http_request(
                "GET", f"{base}{task_path}/files?path={urllib.parse.quote(bad)}", None)
            refused[bad] = status
            if status != 400 or "path: " not in text:
                rep.problem(f"path={bad!r} answered {status}, not a 400 naming the field")
        rep["refused"] = refused

        # --- the panel keeps at most 5,000 lines ---
        pg = open_page(b, task_url, args.timeout)
        try:
            ub.wait_js(pg.page, "() => document.body.dataset.live === 'on' && window.droverEvents",
                       "the task page's event stream", timeout=args.timeout)
            lines = pg.page.evaluate(
                """() => {
                  const panel = document.querySelector('[data-log]');
                  const at = Number(panel.dataset.logOffset || 0);
                  let data = '';
                  for (let i = 0; i < 6000; i++) data += `flood ${i}\\n`;
                  window.droverEvents.dispatchEvent(new MessageEvent('log', {data: JSON.stringify(
                    {file: 'stdout', offset: at, next: at + data.length, data})}));
                  const t = document.getElementById('log-text').textContent;
                  return {lines: t.split('\\n').length - 1, last: t.trimEnd().split('\\n').pop()};
                }""")
            rep["flooded"] = lines
            if lines["lines"] > 5000 or lines["last"] != "flood 5999":
                rep.problem(f"after 6,000 more lines the panel holds {lines}")
        finally:
            for p in pg.problems():
                rep.problem(f"flooded task page: {p}")
            pg.close()


def task_live(args, rep: Report, pg: ub.Page, t0: float, streams: list[str]) -> None:
    """The task page with JavaScript: the stdout panel's counter goes up without a reload, over
    the one event stream the page opened."""
    ub.wait_js(pg.page, "() => document.body.dataset.live === 'on'",
               'the page\'s event stream to connect (<body data-live="on">)', timeout=args.timeout,
               seen="document.body.dataset.live")
    rep.timing("live_ms", ms_since(t0))
    pg.page.evaluate("() => { window.__marker = 1; }")
    navigations = len(pg.navigations)
    first = pg.page.evaluate(MAX_COUNTER)
    offset0 = pg.page.evaluate("() => document.querySelector('[data-log]').dataset.logOffset")
    follow = pg.page.get_by_label("Follow", exact=False)
    rep["follow"] = {"visible": follow.is_visible(), "checked": follow.is_checked()}
    if not (rep.out["follow"]["visible"] and rep.out["follow"]["checked"]):
        rep.problem(f"the Follow checkbox: {rep.out['follow']}")
    t1 = time.monotonic()
    later = ub.wait_js(pg.page, f"(k) => {{ const m = ({MAX_COUNTER})(); return m > k && m; }}",
                       f"a line with a counter above {first} in the stdout panel", arg=first,
                       timeout=args.timeout, seen=f"({MAX_COUNTER})()")
    rep.timing("new_line_ms", ms_since(t1))
    offset1 = pg.page.evaluate("() => document.querySelector('[data-log]').dataset.logOffset")
    survived = pg.page.evaluate("() => window.__marker === 1")
    rep["live"] = {"first": first, "later": later, "offset_rendered": offset0,
                   "offset_now": offset1, "marker_survived": survived,
                   "navigations": pg.navigations[navigations:], "event_streams": list(streams),
                   "lines_in_panel": pg.page.evaluate(LOG_LINES)}
    if not survived or len(pg.navigations) != navigations:
        rep.problem(f"the page reloaded to show new lines: {rep.out['live']}")
    if len(streams) != 1 or "log=" not in streams[0]:
        rep.problem(f"the page opened {len(streams)} event streams (want one, with log=): {streams}")
    if offset0 is None or offset1 is None or int(offset1) <= int(offset0):
        rep.problem(f"the panel's log offset did not move on: {offset0} -> {offset1}")

    # The stream breaks (an `error` event, as the browser fires when a connection drops): the
    # page reopens it itself, from the log offset it reached and the last event id it saw, and
    # the log goes on with no line twice and none missing.
    # (Playwright hears of requests only while it is called: wait for it, not with a sleep.)
    try:
        with pg.page.expect_request(lambda r: "/ui/events" in r.url,
                                    timeout=args.timeout * 1000) as reopening:
            at = pg.page.evaluate(
                "() => { const p = document.querySelector('[data-log]'); window.droverEvents"
                ".dispatchEvent(new Event('error')); return p.dataset.logOffset; }")
    except Exception as e:
        raise ub.UiError(f"the page did not reopen its event stream: {e}") from e
    reopened = urllib.parse.parse_qs(urllib.parse.urlparse(reopening.value.url).query)
    now = pg.page.evaluate(MAX_COUNTER)
    after = ub.wait_js(pg.page, f"(k) => {{ const m = ({MAX_COUNTER})(); return m > k && m; }}",
                       f"a line above {now} after the stream was reopened", arg=now,
                       timeout=args.timeout, seen=f"({MAX_COUNTER})()")
    counters = pg.page.evaluate(
        "() => [...document.getElementById('log-text').textContent.matchAll(/line (\\d+)/g)]"
        ".map(x => Number(x[1]))")
    gaps = [(a, b) for a, b in zip(counters, counters[1:]) if b != a + 1]
    rep["reconnect"] = {"offset_at_error": at, "reopened_with": reopened, "after": after,
                        "lines": len(counters), "not_consecutive": gaps[:10]}
    if reopened.get("log_offset") != [at] or not reopened.get("since"):
        rep.problem(f"the reopened stream asks for log_offset={reopened.get('log_offset')}"
                    f" (want {at}) and since={reopened.get('since')}")
    if gaps:
        rep.problem(f"the log's lines are not consecutive after reopening: {gaps[:10]}")


FLOWS = {"tasks": flow_tasks}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="flow", required=True, metavar="FLOW")
    t = sub.add_parser("tasks", help="filter the tasks, follow a task's log, browse its sandbox")
    t.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
    t.add_argument("--name", required=True,
                   help="the task's name; its stdout prints 'line <counter>' lines")
    t.add_argument("--running", type=int, required=True,
                   help="running tasks on the task's host, all apps together")
    t.add_argument("--timeout", type=float, default=30.0,
                   help="seconds each wait may take (default 30)")
    return ap


def main() -> int:
    return run(FLOWS, parser().parse_args())


if __name__ == "__main__":
    sys.exit(main())
