"""The web UI's Resources flow in a real browser (Debian's Chromium, through ui_browser.py),
against the gateway of ``drover up``.

    $PYC/ui/bin/python ui_flows_resources.py resources --url http://127.0.0.1:PORT

Runs the flow and prints one JSON object on stdout (what it read, the page's accessibility
violations and problems, timings); exits 0 when every check passed, 1 with the reasons on stderr
otherwise. The flow reads the Resources page as a reader would:

  - with JavaScript: every role's row (its name, weight, frameworks, allocated, reserved, quota
    guarantee, limit and consumed, and the quota bars' labels), every reservation's row (agent,
    its link, role, what is reserved, volumes), every machine of the maintenance schedule (mode,
    window, answers) and every agent out of service; the same page filtered with its form by a
    role (the URL says the filter);
  - without JavaScript: the same rows, rendered by the server.

The caller asserts on what it read. The page is checked as ui_flows.page_checks checks every
page: the layout, axe (no serious or critical violation), console errors and failed requests.
Picture: resources.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ui_browser as ub  # noqa: E402
from ui_flows import Report, page_checks, run  # noqa: E402

READ = """() => {
  const text = (el) => el ? el.textContent.replace(/\\s+/g, ' ').trim() : null;
  const cells = (r) => Object.fromEntries([...r.querySelectorAll('[data-f]')]
      .map(c => [c.dataset.f, text(c)]));
  return {
    roles: [...document.querySelectorAll('tr[data-role]')].map(r => ({
      name: r.dataset.role, shown: text(r.querySelector('th')), ...cells(r),
      bars: [...r.querySelectorAll('.bar[role=img]')].map(b => b.getAttribute('aria-label')),
    })),
    reservations: [...document.querySelectorAll('tr[data-reservation]')].map(r => ({
      agent: text(r.querySelector('td a')),
      href: r.querySelector('td a') && r.querySelector('td a').getAttribute('href'),
      ...cells(r),
    })),
    machines: [...document.querySelectorAll('tr[data-machine]')].map(r => ({
      machine: r.dataset.machine, cells: [...r.querySelectorAll('td')].map(text),
    })),
    agents_out: [...document.querySelectorAll('tr[data-agent]')].map(r => ({
      agent: r.dataset.agent, cells: [...r.querySelectorAll('td')].map(text),
    })),
    notices: [...document.querySelectorAll('.notice')].map(text),
  };
}"""


def flow_resources(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    url = f"{base}/ui/resources"
    with ub.browser() as b:
        rep["browser"] = b.version

        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        pg.goto(url, timeout=args.timeout)
        try:
            seen = pg.page.evaluate(READ)
            rep["read"] = seen
            if seen["notices"]:
                rep.problem(f"the page says the master could not be read: {seen['notices']}")
            if args.role:
                # The filter, from its form, as a reader would use it: a link to this view.
                form = pg.page.get_by_role("search", name="Filter resources")
                form.get_by_label("Role, host or agent id").fill(args.role)
                with pg.page.expect_navigation():
                    form.get_by_role("button", name="Filter").click()
                rep["filtered_url"] = pg.page.url
                rep["filtered"] = pg.page.evaluate(READ)
                pg.goto(url, timeout=args.timeout)
        finally:
            sub = Report("resources", pg.page.url)
            try:
                page_checks(pg, sub, "resources")
            except Exception as e:  # keep the flow's own error, if any, as the one reported
                sub.problem(f"the page's checks failed: {type(e).__name__}: {e}")
            rep.out.setdefault("pages", {})["resources"] = sub.out
            for p in sub.out["problems"]:
                rep.problem(f"resources: {p}")
            pg.close()

        nojs = ub.Page.open(b, javascript=False)
        try:
            nojs.goto(url, timeout=args.timeout)
            rep["without_js"] = nojs.page.evaluate(READ)
        finally:
            nojs.close()


FLOWS = {"resources": flow_resources}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="flow", required=True, metavar="FLOW")
    r = sub.add_parser("resources", help="read the roles, reservations and maintenance")
    r.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
    r.add_argument("--role", help="a role to filter the page by, with its form")
    r.add_argument("--timeout", type=float, default=30.0,
                   help="seconds each wait may take (default 30)")
    return ap


def main() -> int:
    return run(FLOWS, parser().parse_args())


if __name__ == "__main__":
    sys.exit(main())
