"""The harness of the web UI's browser tests: Debian's Chromium driven by Playwright.

Imported by ui_flows.py (run with $PYC/ui/bin/python, the venv tests/clients/setup.sh builds from
requirements-ui.txt). What it gives a flow:

- ``browser()``: a context manager launching /usr/bin/chromium headless (never a browser of
  Playwright's own: ``playwright install`` downloads one, which these machines cannot reach).
- ``Page``: a page of a fixed size that records what went wrong while it was open — console
  errors, uncaught exceptions, requests that failed, responses of 400 and over — and the main
  frame's navigations (so a flow can tell that a change came without a reload).
- ``check_layout(page)``: what every page of the UI has (the main navigation, ``<main id="main">``
  with an ``<h1>``, a title ending in "· Drover"); returns the differences.
- ``axe_check(page)``: axe-core (bundled by axe-playwright-python) on the page; returns the
  violations of impact serious or critical, which the UI must have none of.
- ``screenshot(page, name)``: ``<dir>/<name>.png`` when ``DROVER_UI_SCREENSHOTS=<dir>`` is set
  (scripts/ui-screenshots.sh sets it to docs/ui), nothing otherwise, so tests never write into the
  repository.
- ``wait_js`` / ``wait_until``: wait for a condition with a deadline, failing with a message that
  says what was awaited and what was last seen. No fixed sleeps.
- Performance figures, measured in the browser, for docs/performance.md: ``paint_timings``,
  ``navigation_timing``, ``watch_long_tasks`` + ``long_tasks``, ``js_heap``. They measure; they
  assert nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import Page as PwPage
from playwright.sync_api import TimeoutError as PwTimeout

CHROMIUM = os.environ.get("DROVER_CHROMIUM", "/usr/bin/chromium")
# The size every page is opened (and pictured) at.
VIEWPORT = {"width": 1280, "height": 800}
# How long a wait lasts unless the caller says otherwise (seconds).
DEFAULT_TIMEOUT = 30.0

# The pages the main navigation links to, by their link text; every page has them (issue 15).
NAV_LINKS = {
    "Dashboard": "/",
    "Services": "/ui/services",
    "Apps": "/ui/apps",
    "Deployments": "/ui/deployments",
    "Nodes": "/ui/nodes",
    "Tasks": "/ui/tasks",
    "Packages": "/ui/packages",
    "Jobs": "/ui/jobs",
    "Resources": "/ui/resources",
}
TITLE_SUFFIX = "· Drover"


class UiError(Exception):
    """A flow's check failed, or the browser could not do what it was asked; the message says
    which, with what was seen."""


# --- the browser --------------------------------------------------------------------------------


@contextlib.contextmanager
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless. ``--no-sandbox``: the tests run as root in CI, where Chromium
    refuses its sandbox; ``--disable-dev-shm-usage``: containers often have a small /dev/shm."""
    if not os.access(CHROMIUM, os.X_OK):
        raise UiError(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield b
        finally:
            b.close()


@dataclass
class Page:
    """A page and what went wrong on it. Open one with ``Page.open(browser)``; ``problems()``
    says, in words, the console errors, uncaught exceptions, failed requests and bad responses
    seen so far."""

    page: PwPage
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, b: Browser, javascript: bool = True) -> "Page":
        ctx = b.new_context(viewport=VIEWPORT, java_script_enabled=javascript)
        ctx.set_default_timeout(DEFAULT_TIMEOUT * 1000)
        pg = cls(ctx.new_page())
        pg.page.on("console", pg._on_console)
        pg.page.on("pageerror", lambda e: pg.page_errors.append(str(e)))
        pg.page.on("requestfailed", pg._on_request_failed)
        pg.page.on("response", pg._on_response)
        pg.page.on("framenavigated", pg._on_navigated)
        return pg

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            # The browser asks for /favicon.ico by itself, whatever the page says; a page that
            # names an icon that fails shows up in bad_responses.
            if urllib.parse.urlparse(loc.get("url") or "").path == "/favicon.ico":
                return
            where = f" ({loc.get('url')}:{loc.get('lineNumber')})" if loc.get("url") else ""
            self.console_errors.append(msg.text + where)

    def _on_request_failed(self, req) -> None:
        why = req.failure or "failed"
        # An event stream or fetch the page itself aborted (it navigated, or closed the stream)
        # is not a failure of the server.
        if "ERR_ABORTED" in why:
            return
        self.failed_requests.append(f"{req.method} {req.url}: {why}")

    def _on_response(self, resp) -> None:
        if resp.status >= 400:
            self.bad_responses.append(f"{resp.request.method} {resp.url}: {resp.status}")

    def _on_navigated(self, frame) -> None:
        if frame == self.page.main_frame:
            self.navigations.append(frame.url)

    def goto(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Load ``url`` and wait for its load event; a status of 400 or more is an error."""
        try:
            resp = self.page.goto(url, wait_until="load", timeout=timeout * 1000)
        except PwTimeout as e:
            raise UiError(f"{url} did not load within {timeout:g} s") from e
        except Exception as e:  # net::ERR_CONNECTION_REFUSED and the like
            raise UiError(f"{url} could not be loaded: {e}") from e
        if resp is None or resp.status >= 400:
            raise UiError(f"{url} answered {resp.status if resp else 'nothing'}")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, failed requests and bad responses, in words."""
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"uncaught exception: {m}" for m in self.page_errors]
            + [f"request failed: {m}" for m in self.failed_requests]
            + [f"bad response: {m}" for m in self.bad_responses]
        )

    def close(self) -> None:
        self.page.context.close()


# --- waiting ------------------------------------------------------------------------------------


def wait_js(page: PwPage, expr: str, what: str, arg: Any = None,
            timeout: float = DEFAULT_TIMEOUT, seen: Optional[str] = None) -> Any:
    """Wait until the JavaScript function ``expr`` (e.g. ``"(n) => document.title === n"``)
    returns something truthy in the page, and return it. The page checks at each animation
    frame: no fixed sleep. At the deadline, fails with ``what`` and the value of the expression
    ``seen`` (JS, evaluated then) if given."""
    try:
        return page.wait_for_function(expr, arg=arg, timeout=timeout * 1000).json_value()
    except PwTimeout as e:
        last = ""
        if seen:
            with contextlib.suppress(Exception):
                last = f"; last seen: {page.evaluate(seen)!r}"
        raise UiError(f"timed out after {timeout:g} s waiting for {what}{last}") from e


def wait_until(pred: Callable[[], Any], what: str, timeout: float = DEFAULT_TIMEOUT,
               interval: float = 0.05) -> Any:
    """Call ``pred`` until it returns something truthy, and return that; fail at the deadline
    saying ``what`` was awaited. For conditions outside the page (a server's answer)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise UiError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


# --- what every page has ------------------------------------------------------------------------


def check_layout(page: PwPage) -> tuple[dict, list[str]]:
    """The title, the ``<h1>`` and the main navigation's links, and how they differ from what
    every page of the UI must have: ``<nav aria-label="Main">`` linking to each of NAV_LINKS by
    its text, ``<main id="main">`` holding an ``<h1>``, a ``<title>`` ending in "· Drover"."""
    seen = page.evaluate(
        """() => {
          const nav = document.querySelector('nav[aria-label="Main"]');
          const main = document.querySelector('main#main');
          const h1 = main && main.querySelector('h1');
          return {
            title: document.title,
            nav: !!nav,
            links: nav ? [...nav.querySelectorAll('a[href]')].map(a => ({
              text: a.textContent.trim(), href: a.getAttribute('href'),
              path: new URL(a.href).pathname})) : [],
            main: !!main,
            h1: h1 ? h1.textContent.trim() : null,
          };
        }"""
    )
    diffs = []
    if not seen["title"].rstrip().endswith(TITLE_SUFFIX):
        diffs.append(f"<title> is {seen['title']!r}, which does not end with {TITLE_SUFFIX!r}")
    if not seen["nav"]:
        diffs.append('no <nav aria-label="Main">')
    else:
        by_text = {l["text"]: l["path"] for l in seen["links"]}
        for text, path in NAV_LINKS.items():
            if text not in by_text:
                diffs.append(f"the main navigation has no link {text!r} (its links: "
                             f"{[l['text'] for l in seen['links']]})")
            elif by_text[text] != path:
                diffs.append(f"the main navigation's {text!r} goes to {by_text[text]!r}, not {path!r}")
    if not seen["main"]:
        diffs.append('no <main id="main">')
    elif not seen["h1"]:
        diffs.append('<main id="main"> has no (non-empty) <h1>')
    return seen, diffs


# --- accessibility ------------------------------------------------------------------------------


def axe_check(page: PwPage, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Run axe-core on the page as it is now and return its violations of the given impacts
    (the UI must have no serious or critical one), each as
    ``{"id", "impact", "help", "nodes": [css selector, ...]}``."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page)
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [", ".join(map(str, n.get("target", []))) for n in v["nodes"]],
        }
        for v in result.response["violations"]
        if v.get("impact") in impacts
    ]


def describe_violations(violations: list[dict]) -> str:
    return "; ".join(f"{v['id']} ({v['impact']}: {v['help']}) at {v['nodes']}" for v in violations)


# --- screenshots --------------------------------------------------------------------------------


def screenshot(page: PwPage, name: str) -> Optional[str]:
    """Write ``$DROVER_UI_SCREENSHOTS/<name>.png`` (the whole page) and return its path, when
    that variable is set; do nothing otherwise, so a test run never changes the repository."""
    out = os.environ.get("DROVER_UI_SCREENSHOTS")
    if not out:
        return None
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise UiError(f"screenshot name {name!r}: lowercase letters, digits, - and _ only")
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.png"
    # No caret, no animation mid-way: the same page gives the same picture.
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return str(path)


# --- performance figures ------------------------------------------------------------------------
# Measurements for docs/performance.md (issue 15: first contentful paint under 500 ms, no long
# task over 50 ms while paging, heap growth under 10 MB). The flows report them; nothing here
# asserts a time.


def paint_timings(page: PwPage) -> dict:
    """``{"first-paint": ms, "first-contentful-paint": ms}`` since the navigation started, from
    ``performance.getEntriesByType('paint')`` (entries the page has not painted yet are absent)."""
    return page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('paint')"
        ".map(e => [e.name, Math.round(e.startTime * 10) / 10]))"
    )


def navigation_timing(page: PwPage) -> dict:
    """The main document's load, from the Navigation Timing entry: milliseconds since the
    navigation started to the response's first byte, its end, DOMContentLoaded and load, and the
    HTML's size in bytes as sent (``encoded_bytes``) and as decoded."""
    return page.evaluate(
        """() => {
          const n = performance.getEntriesByType('navigation')[0];
          if (!n) return {};
          const r = x => Math.round(x * 10) / 10;
          return {ttfb_ms: r(n.responseStart), response_end_ms: r(n.responseEnd),
                  dom_content_loaded_ms: r(n.domContentLoadedEventEnd), load_ms: r(n.loadEventEnd),
                  encoded_bytes: n.encodedBodySize, decoded_bytes: n.decodedBodySize};
        }"""
    )


LONG_TASKS_INIT = """
  window.__droverLongTasks = [];
  try {
    new PerformanceObserver(list => {
      for (const e of list.getEntries())
        window.__droverLongTasks.push({start: e.startTime, duration: e.duration, name: e.name});
    }).observe({type: 'longtask', buffered: true});
  } catch (e) { window.__droverLongTasks = null; }
"""


def watch_long_tasks(page: PwPage) -> None:
    """Record the main thread's long tasks (over 50 ms, the browser's own definition) from the
    next document loaded in ``page`` on: call before ``goto``; read with ``long_tasks``."""
    page.add_init_script(LONG_TASKS_INIT)


def long_tasks(page: PwPage) -> list[dict]:
    """The long tasks recorded since the document loaded, each ``{"start": ms, "duration": ms,
    "name"}``; ``None`` where the browser has no such observer. ``watch_long_tasks`` must have
    been called before the document loaded."""
    tasks = page.evaluate(
        "() => window.__droverLongTasks === undefined ? 'unwatched' : window.__droverLongTasks")
    if tasks == "unwatched":
        raise UiError("long_tasks: watch_long_tasks(page) was not called before the page loaded")
    return tasks


def js_heap(page: PwPage, collect_garbage: bool = True) -> dict:
    """The page's JavaScript heap, in bytes, from the DevTools protocol (``Performance.getMetrics``:
    exact, unlike ``performance.memory``, which Chromium rounds): ``{"used", "total"}``. With
    ``collect_garbage``, a full collection first, so two readings minutes apart show growth,
    not garbage."""
    cdp = page.context.new_cdp_session(page)
    try:
        if collect_garbage:
            cdp.send("HeapProfiler.collectGarbage")
        cdp.send("Performance.enable")
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        return {"used": int(metrics.get("JSHeapUsedSize", 0)),
                "total": int(metrics.get("JSHeapTotalSize", 0))}
    finally:
        cdp.detach()
