"""The web UI's Packages flows in a real browser (Debian's Chromium, through ui_browser.py),
against the gateway of ``drover up`` (Cosmos' built-in catalogue, Marathon behind it).

    $PYC/ui/bin/python ui_flows_packages.py FLOW --url http://127.0.0.1:PORT [options]

Runs one flow and prints one JSON object on stdout (what it read, each page's accessibility
violations and problems); exits 0 when every check passed, 1 with the reasons on stderr
otherwise. Flows:

  install  search the catalogue for --package, open its page, type --port into the install
           form's ``port`` field, Install; the list says so and shows it under Installed, and
           Marathon (through the gateway) has the app with that service port. Then Uninstall it
           from the list (the confirmation dialog accepted): the list says so, the row and the
           Marathon app are gone. Pictures: packages, package.
  invalid  on --package's page, install with options typed in the JSON box that Cosmos'
           schema refuses (``{"port": "abc"}``): the error is shown at the port field
           (aria-invalid, aria-describedby naming the message) and the error summary has the
           focus; then Install from the form with that text still in the port field: the UI
           refuses it itself ("not a number"), at the field. Nothing is installed. Picture:
           package-invalid.

Each page is checked as ui_flows.page_checks checks every page: the layout, axe (no serious or
critical violation), console errors and failed requests. The 422 answers of the refused
installs are expected, and taken out of the page's bad responses before that check.
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

# A field's state as the page says it: its value, type, aria-invalid, and the texts of the
# elements its aria-describedby names.
READ_FIELD = """(name) => {
  const f = document.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!f) return null;
  const ids = (f.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean);
  const label = f.id ? document.querySelector(`label[for="${CSS.escape(f.id)}"]`) : null;
  return {id: f.id, value: f.value, type: f.type, invalid: f.getAttribute('aria-invalid'),
          label: label ? label.textContent.trim() : null,
          described: ids.map(i => { const e = document.getElementById(i);
                                    return e ? e.textContent.trim() : `#${i} missing`; })};
}"""
INSTALLED_ROWS = """() => [...document.querySelectorAll('tr[data-key^="installed:"]')]
    .map(r => r.dataset.key.slice('installed:'.length))"""
CATALOGUE_NAMES = """() => [...document.querySelectorAll('tr[data-key^="package:"]')]
    .map(r => r.dataset.key.slice('package:'.length))"""
NOTICE = "() => document.querySelector('main .notice[role=status]')?.textContent.trim() || null"


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


def expected_refusals(pg: ub.Page, rep: Report, status: int) -> int:
    """Take the refused installs' answers (POST …/install with ``status``) out of the page's bad
    responses: they are the flow's point. Returns how many there were."""
    mine = [r for r in pg.bad_responses if r.startswith("POST ") and "/install:" in r
            and r.endswith(f": {status}")]
    pg.bad_responses[:] = [r for r in pg.bad_responses if r not in mine]
    # Chromium logs a failed page load to the console too ("Failed to load resource").
    pg.console_errors[:] = [m for m in pg.console_errors
                            if not (f"status of {status}" in m and "/install" in m)]
    rep["refused_installs"] = len(mine)
    return len(mine)


def marathon_app(args, app_id: str) -> tuple[int, dict]:
    """Marathon's own answer for the app, through the gateway."""
    status, text = http_request(
        "GET", f"{args.url.rstrip('/')}/service/marathon/v2/apps{app_id}", None)
    try:
        body = json.loads(text)
    except ValueError:
        body = {"text": text[:300]}
    return status, body


def submit(pg: ub.Page, button: str, timeout: float) -> None:
    """Click a submit button and wait for the page its form's answer loads."""
    with pg.page.expect_navigation(wait_until="load", timeout=timeout * 1000):
        pg.page.click(button)


def flow_install(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    name = args.package
    app_id = f"/{name}"
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
            # The catalogue, searched on the server.
            pg.goto(f"{base}/ui/packages", timeout=args.timeout)
            rep["catalogue"] = pg.page.evaluate(CATALOGUE_NAMES)
            if name not in rep.out["catalogue"]:
                raise ub.UiError(f"the catalogue does not list {name}: {rep.out['catalogue']}")
            pg.page.fill("form[role=search] input[name=q]", name[:5])
            submit(pg, "form[role=search] button[type=submit]", args.timeout)
            found = pg.page.evaluate(CATALOGUE_NAMES)
            rep["search"] = {"q": name[:5], "url": pg.page.url, "found": found}
            if name not in found or len(found) >= len(rep.out["catalogue"]):
                rep.problem(f"searching {name[:5]!r} did not narrow the catalogue to {name}: "
                            f"{found}")
            if urllib.parse.parse_qs(urllib.parse.urlparse(pg.page.url).query).get("q") != [name[:5]]:
                rep.problem(f"the search is not in the URL: {pg.page.url}")

            # The package's page, its form filled in.
            submit(pg, f"a[href='/ui/packages/{name}']", args.timeout)
            field = f"options/{args.option}"
            before = pg.page.evaluate(READ_FIELD, field)
            rep["field_before"] = before
            if not before:
                raise ub.UiError(f"the install form has no field {field}")
            checks(pg, rep, "package")
            pg.page.fill(f"[name='{field}']", str(args.port))
            submit(pg, "button[name=mode][value=form]", args.timeout)

            # Back on the list: said, listed, and in Marathon.
            path = urllib.parse.urlparse(pg.page.url)
            rep["after_install"] = {"url": pg.page.url, "notice": pg.page.evaluate(NOTICE),
                                    "installed": pg.page.evaluate(INSTALLED_ROWS)}
            if path.path != "/ui/packages":
                raise ub.UiError(f"the install did not go back to the list: {pg.page.url} "
                                 f"({pg.page.evaluate(READ_FIELD, field)})")
            if app_id not in rep.out["after_install"]["installed"]:
                rep.problem(f"{app_id} is not listed as installed: {rep.out['after_install']}")
            if f"Installed {name}" not in (rep.out["after_install"]["notice"] or ""):
                rep.problem(f"no notice of the install: {rep.out['after_install']}")
            status, app = marathon_app(args, app_id)
            port = (app.get("app", {}).get("portDefinitions") or [{}])[0].get("port")
            rep["marathon_app"] = {"status": status, "id": app.get("app", {}).get("id"),
                                   "port": port,
                                   "package": app.get("app", {}).get("labels", {})
                                   .get("DCOS_PACKAGE_NAME")}
            if status != 200 or port != args.port:
                rep.problem(f"Marathon's {app_id} is not the one installed with port {args.port}:"
                            f" {rep.out['marathon_app']}")
            checks(pg, rep, "packages")

            # Uninstall from the list, the dialog accepted.
            row = f'tr[data-key="installed:{app_id}"]'
            submit(pg, f"{row} button[type=submit]", args.timeout)
            rep["dialogs"] = dialogs
            if not dialogs or name not in dialogs[0]:
                rep.problem(f"Uninstall did not ask first: dialogs {dialogs}")
            rep["after_uninstall"] = {"url": pg.page.url, "notice": pg.page.evaluate(NOTICE),
                                      "installed": pg.page.evaluate(INSTALLED_ROWS)}
            if app_id in rep.out["after_uninstall"]["installed"]:
                rep.problem(f"{app_id} is still listed after Uninstall: {rep.out['after_uninstall']}")
            if f"Uninstalled {name}" not in (rep.out["after_uninstall"]["notice"] or ""):
                rep.problem(f"no notice of the uninstall: {rep.out['after_uninstall']}")
            gone = ub.wait_until(lambda: marathon_app(args, app_id)[0] == 404,
                                 f"Marathon to forget {app_id}", timeout=args.timeout)
            rep["marathon_gone"] = bool(gone)
            # What went wrong on the page since its last check.
            for p in pg.problems():
                if not any(p in q for q in rep.out["problems"]):
                    rep.problem(p)
        finally:
            pg.close()


def flow_invalid(args, rep: Report) -> None:
    base = args.url.rstrip("/")
    name = args.package
    field = f"options/{args.option}"
    with ub.browser() as b:
        rep["browser"] = b.version
        pg = ub.Page.open(b)
        ub.watch_long_tasks(pg.page)
        try:
            pg.goto(f"{base}/ui/packages/{name}", timeout=args.timeout)
            # The JSON box: open it (keyboard: the summary takes Enter), type what Cosmos refuses.
            pg.page.focus("details.json-mode > summary")
            pg.page.keyboard.press("Enter")
            bad = json.dumps({args.option: "abc"})
            pg.page.fill("#options-json", bad)
            submit(pg, "button[name=mode][value=json]", args.timeout)
            seen = pg.page.evaluate(READ_FIELD, field)
            focus = pg.page.evaluate("() => document.activeElement?.id || null")
            summary = pg.page.evaluate(
                "() => [...document.querySelectorAll('#form-errors a')].map(a => "
                "({text: a.textContent.trim(), href: a.getAttribute('href')}))")
            rep["json_refused"] = {"field": seen, "focus": focus, "summary": summary,
                                   "json_box": pg.page.input_value("#options-json")}
            if not seen or seen["invalid"] != "true":
                rep.problem(f"the {field} field is not marked invalid: {seen}")
            elif not any("integer" in d or "string" in d for d in seen["described"]):
                rep.problem(f"the {field} field is not described by Cosmos' message: {seen}")
            if seen and seen["value"] != "abc":
                rep.problem(f"the {field} field does not show what was sent: {seen}")
            if focus != "form-errors":
                rep.problem(f"the error summary does not have the focus (the focus is on {focus})")
            if seen and not any(s["href"] == f"#{seen['id']}" for s in summary):
                rep.problem(f"the error summary does not link to the field: {summary}")
            if rep.out["json_refused"]["json_box"] != bad:
                rep.problem("the JSON box lost what was typed")

            # The form, with "abc" still in the field: refused by the UI before Cosmos.
            submit(pg, "button[name=mode][value=form]", args.timeout)
            seen = pg.page.evaluate(READ_FIELD, field)
            rep["form_refused"] = {"field": seen}
            if not seen or seen["invalid"] != "true" or \
                    not any("not a number" in d for d in seen["described"]):
                rep.problem(f"the form's bad number is not said at its field: {seen}")
            status, app = marathon_app(args, f"/{name}")
            rep["marathon_status"] = status
            if status != 404:
                rep.problem(f"something was installed: Marathon answers {status} for /{name}")
            refused = expected_refusals(pg, rep, 422)
            if refused != 2:
                rep.problem(f"expected two refused installs (422), saw {refused}")
            checks(pg, rep, "package-invalid")
        finally:
            pg.close()


FLOWS = {"install": flow_install, "invalid": flow_invalid}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="flow", required=True, metavar="FLOW")
    for name, help_ in (("install", "install from the form, see it listed, uninstall it"),
                        ("invalid", "options Cosmos refuses, shown at the field")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--url", required=True, help="the gateway, http://127.0.0.1:PORT")
        p.add_argument("--package", default="helloworld", help="the package (default helloworld)")
        p.add_argument("--option", default="port",
                       help="the integer option typed into (default port)")
        p.add_argument("--timeout", type=float, default=30.0,
                       help="seconds each wait may take (default 30)")
        if name == "install":
            p.add_argument("--port", type=int, required=True,
                           help="the value typed into the option (a free service port)")
    return ap


def main() -> int:
    return run(FLOWS, parser().parse_args())


if __name__ == "__main__":
    sys.exit(main())
