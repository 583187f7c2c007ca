"""The web UI's spec editor flows in a real browser (Debian's Chromium, through ui_browser.py),
against the gateway of ``drover up`` (Marathon behind it).

    $PYC/ui/bin/python ui_flows_editor.py FLOW --url http://127.0.0.1:PORT [options]

Runs one flow and prints one JSON object on stdout (what it read, each page's accessibility
violations and problems); exits 0 when every check passed, 1 with the reasons on stderr
otherwise. Flows:

  create    /ui/apps/new: fill the form by its labels (--app, --cmd, CPUs -1 first); switch to
            JSON and back in place (the values carried, no reload); Create: Marathon's 422 is
            shown at the CPUs field (aria-invalid, aria-describedby naming the message) with the
            error summary focused; fix CPUs, Create: the app's page, and Marathon (through the
            gateway) has the app with that command. Without JavaScript, "Switch to JSON"
            carries a typed command across too. Pictures: app_new, app_new_invalid.
  roundtrip /ui/apps/<--app>/edit, Save with nothing changed: the app's page. (The test then
            compares Marathon's definition before and after.) Picture: app_edit.
  rollback  /ui/apps/<--app>/edit: type --new-cmd into Command, Save; wait for the deployment;
            the versions page shows --old-cmd's line removed and --new-cmd's added (a sign and a
            colour each); "Apply this version" (the dialog accepted): the app's page, and
            Marathon's cmd is --old-cmd again. Picture: app_versions.

Each page is checked as ui_flows.page_checks checks every page: the layout, axe (no serious or
critical violation), console errors and failed requests. The 422 of the refused create is
expected, and taken out of the page's bad responses before that check.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ui_browser as ub  # noqa: E402
from ui_flows import Report, http_request, page_checks, run  # noqa: E402

# A field's state as the page says it: its value, aria-invalid, the texts its
# aria-describedby names, and its label.
READ_FIELD = """(id) => {
  const f = document.getElementById(id);
  if (!f) return null;
  const ids = (f.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
  const label = document.querySelector(`label[for="${CSS.escape(id)}"]`);
  return {value: f.value, invalid: f.getAttribute('aria-invalid'),
          label: label ? label.textContent.trim() : null,
          described: ids.map(i => { const e = document.getElementById(i);
                                    return e ? e.textContent.trim() : `#${i} missing`; })};
}"""
# The diff table's rows: the sign shown, the words said for it, the colour, the line.
DIFF_ROWS = """() => [...document.querySelectorAll('table.diff tbody tr')]
  .filter(r => r.classList.contains('add') || r.classList.contains('del'))
  .map(r => ({kind: r.className,
              sign: r.querySelector('td.sign [aria-hidden]')?.textContent,
              words: r.querySelector('td.sign .vh')?.textContent,
              background: getComputedStyle(r).backgroundColor,
              line: r.querySelector('td.line')?.textContent}))"""


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


def expected_refusals(pg: ub.Page, status: int, path: str) -> int:
    """Take the answers of ``status`` to POSTs of ``path`` out of the page's bad responses (they
    are the flow's point); how many there were."""
    mine = [r for r in pg.bad_responses
            if r.startswith("POST ") and urllib.parse.urlparse(r.split(" ")[1].rstrip(":")).path == path
            and r.endswith(f": {status}")]
    pg.bad_responses[:] = [r for r in pg.bad_responses if r not in mine]
    pg.console_errors[:] = [m for m in pg.console_errors if f"status of {status}" not in m]
    return len(mine)


def marathon(args, path: str) -> tuple[int, dict]:
    """Marathon's own answer, through the gateway."""
    status, text = http_request("GET", f"{args.url.rstrip('/')}/service/marathon{path}", None)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, {"text": text[:300]}


def submit(pg: ub.Page, button, timeout: float) -> None:
    """Click a submit button (a locator) and wait for the page its form's answer loads."""
    with pg.page.expect_navigation(wait_until="load", timeout=timeout * 1000):
        button.click()


def field(pg: ub.Page, label: str):
    return pg.page.get_by_label(label, exact=True)


def at_app_page(pg: ub.Page, app: str) -> bool:
    return urllib.parse.urlparse(pg.page.url).path == f"/ui/apps{app}"


def flow_create(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    with ub.browser() as b:
        rep["browser"] = b.version
        # Without the script: "Switch to JSON" posts the form and the JSON has what was typed.
        nojs = ub.Page.open(b, javascript=False)
        try:
            nojs.goto(f"{base}/ui/apps/new", timeout=args.timeout)
            field(nojs, "Command").fill(args.cmd)
            submit(nojs, nojs.page.get_by_role("button", name="Switch to JSON"), args.timeout)
            typed = json.loads(nojs.page.locator("#f-json").input_value())
            rep["nojs_json"] = typed
            if typed.get("cmd") != args.cmd:
                rep.problem(f"without JavaScript, the JSON mode lost the command: {typed}")
        finally:
            nojs.close()

        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        try:
            pg.goto(f"{base}/ui/apps/new", timeout=args.timeout)
            field(pg, "ID").fill(args.app)
            field(pg, "Command").fill(args.cmd)
            field(pg, "CPUs").fill("-1")
            field(pg, "Memory (MiB)").fill("32")
            field(pg, "Instances").fill("1")
            field(pg, "Labels").fill("owner=ui-test")

            # JSON and back in place: no navigation, the values carried across.
            pg.page.evaluate("() => { window.__marker = 1; }")
            navigations = len(pg.navigations)
            pg.page.get_by_role("link", name="JSON", exact=True).click()
            ub.wait_js(pg.page, "() => !!document.getElementById('f-json')",
                       "the JSON mode in place", timeout=args.timeout)
            as_json = json.loads(pg.page.locator("#f-json").input_value())
            rep["as_json"] = as_json
            want = {"id": args.app, "cmd": args.cmd, "cpus": -1, "mem": 32, "instances": 1,
                    "labels": {"owner": "ui-test"}}
            differs = {k: as_json.get(k) for k, v in want.items() if as_json.get(k) != v}
            if differs:
                rep.problem(f"the JSON mode does not carry the form's values: {differs}")
            if "mode=json" not in pg.page.url:
                rep.problem(f"the URL does not say the mode: {pg.page.url}")
            pg.page.get_by_role("link", name="Form", exact=True).click()
            ub.wait_js(pg.page, "() => !!document.getElementById('f-cmd')",
                       "the form mode in place", timeout=args.timeout)
            rep["back_in_form"] = {"cmd": field(pg, "Command").input_value(),
                                   "cpus": field(pg, "CPUs").input_value()}
            if rep.out["back_in_form"] != {"cmd": args.cmd, "cpus": "-1"}:
                rep.problem(f"back in the form, the values differ: {rep.out['back_in_form']}")
            # (The URL changes in place, history.replaceState: Playwright counts it among the
            # frame's navigations, so the marker is what tells a reload.)
            rep["switch_urls"] = pg.navigations[navigations:]
            if pg.page.evaluate("() => window.__marker") != 1:
                rep.problem(f"switching modes reloaded the page: {pg.navigations[navigations:]}")

            # Marathon refuses CPUs of -1: at the field, the summary focused.
            submit(pg, pg.page.get_by_role("button", name="Create app"), args.timeout)
            rep["refused"] = expected_refusals(pg, 422, "/ui/apps/new")
            cpus = pg.page.evaluate(READ_FIELD, "f-cpus")
            rep["invalid_cpus"] = cpus
            rep["focus"] = pg.page.evaluate("() => document.activeElement && document.activeElement.id")
            if not cpus or cpus["invalid"] != "true" or not any(
                    "0" in d and "or more" in d for d in cpus["described"]):
                rep.problem(f"Marathon's error is not at the CPUs field: {cpus}")
            if rep.out["focus"] != "form-errors":
                rep.problem(f"the error summary does not have the focus: {rep.out['focus']!r}")
            checks(pg, rep, "app_new_invalid")

            field(pg, "CPUs").fill("0.1")
            checks(pg, rep, "app_new")
            submit(pg, pg.page.get_by_role("button", name="Create app"), args.timeout)
            rep["landed"] = urllib.parse.urlparse(pg.page.url).path
            if not at_app_page(pg, args.app):
                rep.problem(f"after Create, the page is {pg.page.url}, not the app's")
            status, body = marathon(args, f"/v2/apps{args.app}")
            app = body.get("app", {})
            rep["marathon_app"] = {"status": status, "cmd": app.get("cmd"), "cpus": app.get("cpus"),
                                   "mem": app.get("mem"), "labels": app.get("labels")}
            if status != 200 or app.get("cmd") != args.cmd:
                rep.problem(f"Marathon does not have the app as created: {rep.out['marathon_app']}")
        finally:
            pg.close()


def flow_roundtrip(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    with ub.browser() as b:
        rep["browser"] = b.version
        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        try:
            pg.goto(f"{base}/ui/apps{args.app}/edit", timeout=args.timeout)
            rep["form"] = {k: pg.page.evaluate(READ_FIELD, f"f-{k}")
                           for k in ("cmd", "env", "labels", "ports")}
            checks(pg, rep, "app_edit")
            before = set(pg.problems())
            submit(pg, pg.page.get_by_role("button", name="Save", exact=True), args.timeout)
            rep["landed"] = urllib.parse.urlparse(pg.page.url).path
            if not at_app_page(pg, args.app):
                rep.problem(f"after Save, the page is {pg.page.url}, not the app's")
            for p in pg.problems():
                if p not in before:
                    rep.problem(p)
        finally:
            pg.close()


def flow_rollback(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    with ub.browser() as b:
        rep["browser"] = b.version
        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        dialogs: list[str] = []

        def on_dialog(d):
            dialogs.append(d.message)
            d.accept()

        pg.page.on("dialog", on_dialog)
        try:
            pg.goto(f"{base}/ui/apps{args.app}/edit", timeout=args.timeout)
            field(pg, "Command").fill(args.new_cmd)
            submit(pg, pg.page.get_by_role("button", name="Save", exact=True), args.timeout)
            if not at_app_page(pg, args.app):
                raise ub.UiError(f"after Save, the page is {pg.page.url}, not the app's")

            def settled():
                s, body = marathon(args, f"/v2/apps{args.app}")
                app = body.get("app", {})
                return s == 200 and app.get("cmd") == args.new_cmd and not app.get("deployments")
            ub.wait_until(settled, f"Marathon to have deployed cmd {args.new_cmd!r}",
                          timeout=args.timeout)

            pg.goto(f"{base}/ui/apps{args.app}/versions", timeout=args.timeout)
            rows = pg.page.evaluate(DIFF_ROWS)
            rep["diff"] = rows
            # The unchanged lines left out are said, where they are seen.
            rep["diff_gaps"] = pg.page.evaluate(
                "() => [...document.querySelectorAll('table.diff tr.gap')].map(r => ({text:"
                " r.textContent.trim(), left: r.getBoundingClientRect().left}))")
            if not any("unchanged line" in g["text"] and g["left"] >= 0 for g in rep.out["diff_gaps"]):
                rep.problem(f"the diff does not say which lines it left out: {rep.out['diff_gaps']}")
            old = json.dumps(args.old_cmd)
            new = json.dumps(args.new_cmd)
            removed = [r for r in rows if r["kind"] == "del" and old in (r["line"] or "")]
            added = [r for r in rows if r["kind"] == "add" and new in (r["line"] or "")]
            if not removed or removed[0]["sign"] != "−" or removed[0]["words"] != "removed":
                rep.problem(f"the old command's line is not shown removed (−): {rows}")
            if not added or added[0]["sign"] != "+" or added[0]["words"] != "added":
                rep.problem(f"the new command's line is not shown added (+): {rows}")
            if removed and added and removed[0]["background"] == added[0]["background"]:
                rep.problem("added and removed lines have the same colour")
            checks(pg, rep, "app_versions")
            before = set(pg.problems())

            apply = pg.page.get_by_role("button", name="Apply this version (", exact=False).first
            rep["apply_button"] = apply.text_content()
            submit(pg, apply, args.timeout)
            rep["dialogs"] = dialogs
            rep["landed"] = urllib.parse.urlparse(pg.page.url).path
            if not at_app_page(pg, args.app):
                rep.problem(f"after Apply, the page is {pg.page.url}, not the app's")
            status, body = marathon(args, f"/v2/apps{args.app}")
            rep["marathon_cmd"] = body.get("app", {}).get("cmd")
            if rep.out["marathon_cmd"] != args.old_cmd:
                rep.problem(f"after Apply, Marathon's cmd is {rep.out['marathon_cmd']!r}")
            for p in pg.problems():
                if p not in before:
                    rep.problem(p)
        finally:
            pg.close()


FLOWS = {"create": flow_create, "roundtrip": flow_roundtrip, "rollback": flow_rollback}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="flow", required=True, metavar="FLOW")
    c = sub.add_parser("create", help="create an app from the form (and a refused try first)")
    c.add_argument("--app", required=True, help="the app's id, e.g. /ui-new")
    c.add_argument("--cmd", required=True, help="its command")
    r = sub.add_parser("roundtrip", help="open an app's edit form and save it unchanged")
    r.add_argument("--app", required=True)
    rb = sub.add_parser("rollback", help="change the command, read the diff, apply the old version")
    rb.add_argument("--app", required=True)
    rb.add_argument("--old-cmd", required=True)
    rb.add_argument("--new-cmd", required=True)
    for p in (c, r, rb):
        p.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
        p.add_argument("--timeout", type=float, default=60.0,
                       help="seconds each wait may take (default 60)")
    return ap


def main() -> int:
    return run(FLOWS, parser().parse_args())


if __name__ == "__main__":
    sys.exit(main())
