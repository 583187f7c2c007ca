"""The web UI's Apps and Deployments flows in a real browser (Debian's Chromium, through
ui_browser.py), against the gateway of ``drover up``.

    $PYC/ui/bin/python ui_flows_apps.py FLOW --url http://127.0.0.1:PORT --app /ID [options]

Runs one flow and prints one JSON object on stdout (what it read, each page's accessibility
violations and problems, timings); exits 0 when every check passed, 1 with the reasons on stderr
otherwise. Flows:

  scale    the apps table open in one tab; on the app's page in another, Scale to --to; the
           table's running and instance counts follow without a reload. Pictures: apps, app.
  restart  on the app's page, Restart (confirmed); its deployment's step progress shows on the
           app's page and the deployments page; then --gate is created (the new instances pass
           their health check) and both pages see the deployment end, without a reload.
           Picture: deployments.
  why      the page of an app whose instances cannot be placed: the reasons offers were refused
           (with counts) and the agents that refused them. Picture: app-waiting.

Each page is checked as ui_flows.page_checks checks every page: the layout, axe (no serious or
critical violation), console errors and failed requests.
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
from ui_flows import Report, ms_since, page_checks, run  # noqa: E402

ROW = "tr[data-key=\"app:{id}\"]"
READ_ROW = """(id) => {
  const r = document.querySelector(`tr[data-key="app:${CSS.escape(id)}"]`);
  if (!r) return null;
  const f = (k) => { const e = r.querySelector(`[data-f="${k}"]`); return e ? e.textContent.trim() : null; };
  return {running: f("running"), instances: f("instances"), status: f("status"),
          healthy: f("healthy"), unhealthy: f("unhealthy"), unknown: f("unknown")};
}"""


def checks(pg: ub.Page, rep: Report, name: str) -> None:
    """page_checks into a report of the page's own (a flow checks several pages), its problems
    also the flow's."""
    sub = Report(name, pg.page.url)
    try:
        page_checks(pg, sub, name)
    except Exception as e:  # keep the flow's own error, if any, as the one reported
        sub.problem(f"the page's checks failed: {type(e).__name__}: {e}")
    rep.out.setdefault("pages", {})[name] = sub.out
    for p in sub.out["problems"]:
        rep.problem(f"{name}: {p}")


def open_live(b, url: str, timeout: float) -> ub.Page:
    pg = ub.Page.open(b)
    ub.watch_long_tasks(pg.page)
    # Forms that ask first (data-confirm) are answered yes, as a user would.
    pg.page.on("dialog", lambda d: d.accept())
    pg.goto(url, timeout=timeout)
    ub.wait_js(pg.page, "() => document.body.dataset.live === 'on'",
               'the page\'s event stream to connect (<body data-live="on">)', timeout=timeout,
               seen="document.body.dataset.live")
    pg.page.evaluate("() => { window.__marker = 1; }")
    return pg


def not_reloaded(pg: ub.Page, rep: Report, navigations: int, what: str) -> None:
    survived = pg.page.evaluate("() => window.__marker === 1")
    if not survived or len(pg.navigations) != navigations:
        rep.problem(f"{what}: the page reloaded to show the change (navigations: "
                    f"{pg.navigations[navigations:]})")


def app_url(args) -> str:
    return f"{args.url.rstrip('/')}/ui/apps{args.app}"


def flow_scale(args, rep: Report) -> None:
    table_url = f"{args.url.rstrip('/')}/ui/apps"
    folder = args.app.rsplit("/", 1)[0]
    if folder:
        table_url += "?folder=" + urllib.parse.quote(folder)
    with ub.browser() as b:
        rep["browser"] = b.version
        # Without JavaScript, the table reads as it is.
        nojs = ub.Page.open(b, javascript=False)
        nojs.goto(table_url, timeout=args.timeout)
        rep["read_without_js"] = nojs.page.evaluate(READ_ROW, args.app)
        nojs.close()
        if rep.out["read_without_js"] is None:
            raise ub.UiError(f"{table_url} has no row {ROW.format(id=args.app)} without JavaScript")

        table = open_live(b, table_url, args.timeout)
        app = None
        try:
            rep["before"] = table.page.evaluate(READ_ROW, args.app)
            navigations = len(table.navigations)
            app = open_live(b, app_url(args), args.timeout)
            field = app.page.get_by_label("Instances", exact=True)
            field.fill(str(args.to))
            t0 = time.monotonic()
            with app.page.expect_navigation():
                app.page.get_by_role("button", name="Scale", exact=True).click()
            rep["flash"] = app.page.locator("[role=status].flash").inner_text()
            want = str(args.to)
            rep["after"] = ub.wait_js(
                table.page,
                f"(a) => {{ const r = ({READ_ROW})(a[0]); return r && r.running === a[1] && "
                "r.instances === a[1] && r.status === 'Running' && r; }",
                f"the apps table's row of {args.app} to show {want} of {want} running",
                arg=[args.app, want], timeout=args.timeout,
                seen=f"({READ_ROW})({json.dumps(args.app)})")
            rep.timing("change_seen_ms", ms_since(t0))
            not_reloaded(table, rep, navigations, "the apps table")
            # The app's page follows too (its header, then its tasks once they run).
            ub.wait_js(app.page,
                       "(n) => document.querySelectorAll('tr[data-key^=\"task:\"][data-state=TASK_RUNNING]').length === n",
                       f"the app's page to list {want} running tasks", arg=args.to,
                       timeout=args.timeout,
                       seen="document.querySelectorAll('tr[data-key^=\"task:\"]').length")
            rep["app_header"] = app.page.evaluate(
                """() => { const d = document.querySelector('dl[data-key]');
                   return {running: d.querySelector('[data-f=running]').textContent,
                           instances: d.querySelector('[data-f=instances]').textContent,
                           status: d.querySelector('[data-f=status]').textContent}; }""")
        finally:
            checks(table, rep, "apps")
            table.close()
            if app is not None:
                checks(app, rep, "app")
                app.close()


def flow_restart(args, rep: Report) -> None:
    if not args.gate:
        raise ub.UiError("restart needs --gate (the file whose creation lets the deployment end)")
    with ub.browser() as b:
        rep["browser"] = b.version
        app = open_live(b, app_url(args), args.timeout)
        deps = None
        try:
            t0 = time.monotonic()
            with app.page.expect_navigation():
                app.page.get_by_role("button", name="Restart", exact=True).click()
            # From the page the action came back to, nothing reloads.
            navigations = len(app.navigations)
            app.page.evaluate("() => { window.__marker = 1; }")
            rep["flash"] = app.page.locator("[role=status].flash").inner_text()
            rep["app_deployment"] = ub.wait_js(
                app.page,
                """() => { const s = document.querySelector('.step-text');
                   return s && {step: s.textContent.trim(),
                     steps: [...document.querySelectorAll('ol.steps li')].map(l => l.textContent.trim())}; }""",
                "the app's page to show its deployment's step progress", timeout=args.timeout,
                seen="document.querySelector('main').innerText.slice(0, 400)")
            rep.timing("progress_seen_ms", ms_since(t0))
            deps = open_live(b, f"{args.url.rstrip('/')}/ui/deployments", args.timeout)
            deps_navigations = len(deps.navigations)
            rep["deployments"] = deps.page.evaluate(
                """() => [...document.querySelectorAll('tr[data-deployment]')].map(r => ({
                     id: r.dataset.deployment,
                     apps: [...r.querySelectorAll('td:nth-child(2) a')].map(a => a.textContent.trim()),
                     step: r.querySelector('.step-text').textContent.trim(),
                     now: r.querySelector('td:nth-child(4)').textContent.trim()}))""")
            if not any(args.app in d["apps"] for d in rep.out["deployments"]):
                rep.problem(f"the deployments page does not list a deployment of {args.app}: "
                            f"{rep.out['deployments']}")
            checks(deps, rep, "deployments")
            # Let the new instances pass their health check: the deployment ends.
            with open(args.gate, "w") as f:
                f.write("go\n")
            t1 = time.monotonic()
            ub.wait_js(deps.page, "() => !document.querySelector('tr[data-deployment]')",
                       "the deployments page to show the deployment ended", timeout=args.timeout,
                       seen="document.querySelector('tbody').innerText")
            ub.wait_js(app.page, "() => !document.querySelector('.step-text')",
                       "the app's page to show the deployment ended", timeout=args.timeout,
                       seen="document.querySelector('main').innerText.slice(0, 400)")
            rep.timing("end_seen_ms", ms_since(t1))
            rep["after"] = {
                "app_status": app.page.locator("dl[data-key] [data-f=status]").inner_text(),
                "deployments": deps.page.locator("tbody").inner_text().strip(),
            }
            not_reloaded(app, rep, navigations, "the app's page")
            not_reloaded(deps, rep, deps_navigations, "the deployments page")
        finally:
            if deps is not None:
                deps.close()
            checks(app, rep, "app-restarted")
            app.close()


def flow_why(args, rep: Report) -> None:
    url = app_url(args)
    with ub.browser() as b:
        rep["browser"] = b.version
        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        try:
            # Offers come every few seconds: the page is opened again until it has reasons.
            def opened():
                pg.goto(url, timeout=args.timeout)
                return pg.page.locator("table.reasons").count() > 0

            ub.wait_until(opened, f"{url} to show the reasons offers were refused",
                          timeout=args.timeout, interval=1.0)
            rep["why"] = pg.page.evaluate(
                """() => ({
                  heading: document.querySelector('#h-why').textContent.trim(),
                  status: document.querySelector('dl[data-key] [data-f=status]').textContent.trim(),
                  text: document.querySelector('section.why p').textContent.replace(/\\s+/g, ' ').trim(),
                  reasons: [...document.querySelectorAll('table.reasons tbody tr')].map(r => ({
                    code: r.cells[0].textContent.trim(), meaning: r.cells[1].textContent.trim(),
                    count: Number(r.cells[2].textContent.trim())})),
                  agents: [...document.querySelectorAll('table.agents-why tbody tr')].map(r => ({
                    host: r.cells[0].querySelector('a').textContent.trim(),
                    agent: r.cells[0].querySelector('.id').textContent.trim(),
                    reasons: [...r.cells[1].querySelectorAll('code')].map(c => c.textContent.trim()),
                    offered: r.cells[2].textContent.trim()})),
                })""")
        finally:
            checks(pg, rep, "app-waiting")
            pg.close()


FLOWS = {"scale": flow_scale, "restart": flow_restart, "why": flow_why}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="flow", required=True, metavar="FLOW")
    for name, help_ in [("scale", "scale from the app's page, watch the table follow"),
                        ("restart", "restart, watch the deployment's progress and end"),
                        ("why", "read why an app's instances are not placed")]:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
        p.add_argument("--app", required=True, help="the app's id, /folder/name")
        p.add_argument("--timeout", type=float, default=30.0,
                       help="seconds each wait may take (default 30)")
        if name == "scale":
            p.add_argument("--to", type=int, required=True, help="the instances to scale to")
        if name == "restart":
            p.add_argument("--gate", help="a file to create once the progress was seen")
    return ap


def main() -> int:
    return run(FLOWS, parser().parse_args())


if __name__ == "__main__":
    sys.exit(main())
