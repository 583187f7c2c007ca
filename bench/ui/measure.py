"""The web UI's performance figures, measured in a real browser (issue 15, docs/performance.md).

    $PYC/ui/bin/python bench/ui/measure.py --url http://127.0.0.1:PORT --log ui_cluster.log \
        [--master http://127.0.0.1:PORT] [--loads 5] [--pages 20] [--latency-secs 30] [--minutes 1]

Against a UI whose cluster is bench/src/bin/ui_cluster.rs (10,000 tasks, 1,000 apps, TASK_UPDATED
events flowing, each logged with its send time to --log); scripts/bench-ui.sh runs both. Debian's
Chromium, driven through tests/clients/ui_browser.py. Prints one JSON object:

- ``html``: for ``/``, ``/ui/tasks`` and ``/ui/apps``, the bytes of the first response (the HTML
  as the server sends it, fetched with urllib, and as the browser's Navigation Timing saw it) and
  the first contentful paint of ``--loads`` loads, each in a fresh browser context (nothing
  cached), with their median.
- ``paging``: ``/ui/tasks`` (50 rows, and 200), then "Next" followed ``--pages`` times, then
  the table sorted by state and by update time: every long task (over 50 ms) of every page.
- ``latency``: ``/ui/tasks?per=200`` open while the updates flow; a MutationObserver notes each
  row whose state changes (from the script's update in place or a refreshed fragment) with
  ``Date.now()`` at the next animation frame (the frame that paints it). Joined with the send
  log: for each change seen, the latest update of that task to that state sent before it.
  p50/p95/p99 over the first ``--latency-secs``, and over the whole run; how many updates were
  sent to rows on the page and how many of those were seen.
- ``heap``: the page's JavaScript heap after a full collection at the start, every minute, and
  after ``--minutes`` of the same (the page's records are drained into this script every few
  seconds, so the measuring does not grow the heap it measures).
- ``live_long_tasks``: long tasks on that page while the updates flow.
- ``apps_live``: ``/ui/apps`` open for ``--apps-secs``: the ``app`` events its stream brought
  (ui_cluster --marathon-events makes Marathon say each task's update, and the UI reads the apps
  again) and the page's long tasks.
- ``server_cpu``: with ``--pid`` (ui_cluster's), the CPU the process used in each part, in
  percent of one core.

It measures; it asserts nothing. Exits 1 only when it could not measure (the message says why).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "clients"))
import ui_browser as ub  # noqa: E402

# Issue 15's targets.
TARGETS = {"html_bytes": 100_000, "fcp_ms": 500, "long_task_ms": 50, "latency_p95_ms": 250,
           "heap_growth_bytes": 10 * 1024 * 1024}

# Notes every task row whose state changes, stamped at the next animation frame.
OBSERVE = """() => {
  const ROW = 'tr[data-key^="task:"]';
  const last = new Map();
  let pending = [], raf = 0;
  window.__lat = [];
  const check = (tr) => {
    const key = tr.dataset.key.slice(5), st = tr.dataset.state;
    if (last.get(key) !== st) { last.set(key, st); pending.push([key, st, Date.now()]); }
  };
  for (const tr of document.querySelectorAll(ROW)) last.set(tr.dataset.key.slice(5), tr.dataset.state);
  const obs = new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.type === 'attributes') { if (m.target.matches(ROW)) check(m.target); continue; }
      for (const n of m.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches(ROW)) check(n);
        for (const tr of n.querySelectorAll(ROW)) check(tr);
      }
    }
    if (pending.length && !raf) raf = requestAnimationFrame(() => {
      const t = Date.now();
      for (const p of pending) window.__lat.push([p[0], p[1], p[2], t]);
      pending = []; raf = 0;
    });
  });
  obs.observe(document.getElementById('main'),
              {subtree: true, childList: true, attributes: true, attributeFilter: ['data-state']});
  return last.size;
}"""
DRAIN = """() => ({lat: window.__lat.splice(0),
  long: (window.__droverLongTasks || []).splice(0),
  rows: [...document.querySelectorAll('tr[data-key^="task:"]')].map(tr => tr.dataset.key.slice(5))})"""
IDLE = "() => new Promise(r => requestIdleCallback(() => r(true), {timeout: 5000}))"
LIVE = "() => document.body && document.body.dataset.live === 'on'"


def median(xs):
    return round(statistics.median(xs), 1) if xs else None


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs."""
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))], 1)


def ratio(measured, target):
    return None if measured is None else round(measured / target, 3)


def get_json(url):
    with urllib.request.urlopen(url, timeout=20) as r:
        return json.loads(r.read())


def first_response(url):
    """The bytes of the first response to GET url, as sent (the UI compresses nothing)."""
    req = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:  # a page not there (yet) is reported, not measured
        status, body = e.code, e.read()
    return {"status": status, "bytes": len(body), "ms": round((time.monotonic() - t0) * 1000, 1)}


def loads(b, base, path, n, timeout):
    """FCP and navigation timing of n loads of path, each in a fresh context."""
    runs = []
    for _ in range(n):
        pg = ub.Page.open(b)
        try:
            pg.goto(base + path, timeout=timeout)
            ub.wait_js(pg.page, "() => performance.getEntriesByType('paint')"
                       ".some(e => e.name === 'first-contentful-paint')",
                       f"the first contentful paint of {path}", timeout=timeout)
            paint = ub.paint_timings(pg.page)
            nav = ub.navigation_timing(pg.page)
            runs.append({"fcp_ms": paint.get("first-contentful-paint"), **nav})
            for p in pg.problems():
                raise ub.UiError(f"{path}: {p}")
        finally:
            pg.close()
    fcps = [r["fcp_ms"] for r in runs]
    return {
        "fcp_ms": fcps, "fcp_median_ms": median(fcps),
        "ttfb_median_ms": median([r["ttfb_ms"] for r in runs]),
        "response_end_median_ms": median([r["response_end_ms"] for r in runs]),
        "load_median_ms": median([r["load_ms"] for r in runs]),
        "encoded_bytes": runs[-1]["encoded_bytes"] if runs else None,
    }


def settle(pg, timeout):
    """Wait for the page's stream to be on and the main thread to go idle once."""
    ub.wait_js(pg.page, LIVE, "the page's event stream", timeout=timeout,
               seen="document.body && document.body.dataset.live")
    pg.page.evaluate(IDLE)


def paging(b, base, start, pages, timeout):
    """Open start, follow "Next" `pages` times, then sort by state and by update time; the long
    tasks (over 50 ms) of each page, read once it is live and idle."""
    pg = ub.Page.open(b)
    ub.watch_long_tasks(pg.page)
    steps = []

    def record(what):
        settle(pg, timeout)
        nav = ub.navigation_timing(pg.page)
        paint = ub.paint_timings(pg.page)
        lt = ub.long_tasks(pg.page)
        steps.append({"step": what, "url": pg.page.url, "load_ms": nav.get("load_ms"),
                      "fcp_ms": paint.get("first-contentful-paint"),
                      "bytes": nav.get("decoded_bytes"),
                      "long_tasks_ms": [round(t["duration"], 1) for t in lt]})

    def follow(selector, what):
        with pg.page.expect_navigation(wait_until="load", timeout=timeout * 1000):
            pg.page.click(selector)
        record(what)

    try:
        pg.goto(base + start, timeout=timeout)
        record("open")
        for i in range(pages):
            follow('nav.pager a[rel="next"]', f"next {i + 1}")
        follow('th a:text-is("State")', "sort by state")
        follow('th a:text-is("Updated")', "sort by updated")
        follow('th a:text-is("Updated")', "sort by updated, descending")
        problems = pg.problems()
    finally:
        pg.close()
    all_lt = [d for s in steps for d in s["long_tasks_ms"]]
    return {"start": start, "navigations": len(steps), "long_tasks": len(all_lt),
            "max_long_task_ms": max(all_lt) if all_lt else 0,
            "load_median_ms": median([s["load_ms"] for s in steps if s["load_ms"]]),
            "fcp_median_ms": median([s["fcp_ms"] for s in steps if s["fcp_ms"]]),
            "rows_bytes_median": median([s["bytes"] for s in steps if s["bytes"]]),
            "steps": steps, "problems": problems}


def read_log(path):
    """task id -> [(send ms, state)] in send order."""
    sends = defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue  # a line being written
            sends[parts[0]].append((float(parts[2]), parts[1]))
    return sends


def join(obs, sends, t_from, t_to, rows):
    """Latency of each observed change (at the animation frame after it) from the latest send of
    that task to that state before it; and the sends to rows on the page in [t_from, t_to - 1 s]
    that some observation accounts for."""
    lat, unmatched, matched = [], 0, set()
    times = {k: [s[0] for s in v] for k, v in sends.items()}
    for key, state, t_mut, t_frame in obs:
        if not t_from <= t_frame <= t_to:
            continue
        lst = sends.get(key, [])
        i = bisect.bisect_right(times.get(key, []), t_frame + 1.0) - 1
        while i >= 0 and lst[i][1] != state:
            i -= 1
        if i < 0:
            unmatched += 1
            continue
        matched.add((key, i))
        lat.append(t_frame - lst[i][0])
    sent = [(k, i) for k in rows for i, (t, _) in enumerate(sends.get(k, []))
            if t_from <= t < t_to - 1000]
    seen = sum(1 for s in sent if s in matched)
    return {
        "changes_seen": len(lat), "unmatched": unmatched,
        "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99),
        "max_ms": round(max(lat), 1) if lat else None,
        "sent_to_rows_on_page": len(sent), "of_those_seen": seen,
        "p95_ratio_to_target": ratio(pct(lat, 95), TARGETS["latency_p95_ms"]),
    }


def cpu_seconds(pid):
    """User + system CPU seconds a process has used, or None without one."""
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """The server's CPU over a part of the run, in percent of one core."""

    def __init__(self, pid):
        self.pid, self.out = pid, {}

    def part(self, name, f, *a):
        c0, t0 = cpu_seconds(self.pid), time.monotonic()
        r = f(*a)
        if self.pid:
            self.out[name] = round(100 * (cpu_seconds(self.pid) - c0) / (time.monotonic() - t0), 1)
        return r


COUNT_APP_EVENTS = """() => { window.__appEvents = 0;
  window.droverEvents.addEventListener('app', () => { window.__appEvents++; }); }"""


def apps_live(b, base, secs, timeout):
    """/ui/apps open for secs: the app events it was told and its long tasks."""
    pg = ub.Page.open(b)
    ub.watch_long_tasks(pg.page)
    try:
        pg.goto(base + "/ui/apps", timeout=timeout)
        settle(pg, timeout)
        pg.page.evaluate(COUNT_APP_EVENTS)
        pg.page.evaluate("() => (window.__droverLongTasks || []).splice(0)")
        t0 = time.monotonic()
        # The window is the measurement itself.
        time.sleep(secs)
        n = pg.page.evaluate("() => window.__appEvents")
        lt = [round(t["duration"], 1) for t in ub.long_tasks(pg.page)]
        problems = pg.problems()
    finally:
        pg.close()
    return {"secs": secs, "app_events": n,
            "app_events_per_s": round(n / (time.monotonic() - t0), 1),
            "long_tasks": len(lt), "max_long_task_ms": max(lt) if lt else 0,
            "problems": problems}


def live(b, base, log, latency_secs, minutes, timeout):
    """/ui/tasks?per=200 while the updates flow: latency of what is seen, heap, long tasks."""
    pg = ub.Page.open(b)
    ub.watch_long_tasks(pg.page)
    obs, long_tasks, rows = [], [], set()
    try:
        pg.goto(base + "/ui/tasks?per=200", timeout=timeout)
        settle(pg, timeout)
        n = pg.page.evaluate(OBSERVE)
        pg.page.evaluate("() => (window.__droverLongTasks || []).splice(0)")
        heap = [{"min": 0, **ub.js_heap(pg.page)}]
        t0 = time.time() * 1000
        total = max(latency_secs, minutes * 60)
        next_heap = 60
        while True:
            elapsed = (time.time() * 1000 - t0) / 1000
            if elapsed >= total:
                break
            # Pace the draining (the measurement's own cadence, not a wait for a condition).
            time.sleep(min(2.0, total - elapsed))
            d = pg.page.evaluate(DRAIN)
            obs.extend(d["lat"])
            long_tasks.extend(round(t["duration"], 1) for t in d["long"])
            rows.update(d["rows"])
            if elapsed >= next_heap and elapsed < total - 5:
                heap.append({"min": round(elapsed / 60, 1), **ub.js_heap(pg.page)})
                next_heap += 60
        t_end = time.time() * 1000
        d = pg.page.evaluate(DRAIN)
        obs.extend(d["lat"])
        long_tasks.extend(round(t["duration"], 1) for t in d["long"])
        heap.append({"min": round((t_end - t0) / 60000, 1), **ub.js_heap(pg.page)})
        problems = pg.problems()
        dom_rows = len(d["rows"])
    finally:
        pg.close()
    sends = read_log(log)
    growth = heap[-1]["used"] - heap[0]["used"]
    return {
        "page": "/ui/tasks?per=200", "rows_observed_at_start": n, "rows_on_page": dom_rows,
        "rows_seen_over_the_run": len(rows),
        "latency": {"window_s": latency_secs,
                    **join(obs, sends, t0, min(t_end, t0 + latency_secs * 1000), rows)},
        "latency_whole_run": {"window_s": round((t_end - t0) / 1000),
                              **join(obs, sends, t0, t_end, rows)},
        "heap": {"minutes": round((t_end - t0) / 60000, 1), "samples": heap,
                 "growth_bytes": growth, "growth_mb": round(growth / 2**20, 2),
                 "ratio_to_target": ratio(growth, TARGETS["heap_growth_bytes"])},
        "live_long_tasks": {"count": len(long_tasks),
                            "max_ms": max(long_tasks) if long_tasks else 0,
                            "durations_ms": sorted(long_tasks, reverse=True)[:20]},
        "problems": problems,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the UI, http://127.0.0.1:PORT")
    ap.add_argument("--log", required=True, help="ui_cluster's send log")
    ap.add_argument("--master", help="ui_cluster's master (for its update mix, reported)")
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--latency-secs", type=float, default=30)
    ap.add_argument("--minutes", type=float, default=1)
    ap.add_argument("--apps-secs", type=float, default=20)
    ap.add_argument("--pid", type=int, help="ui_cluster's pid, for its CPU in each part")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--skip", default="",
                    help="comma-separated parts to skip: html,paging,live,apps")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    skip = set(filter(None, args.skip.split(",")))
    out = {"targets": TARGETS, "machine": {"cpus": os.cpu_count(),
                                           "load_at_start": os.getloadavg()}}
    if args.master:
        out["mix"] = get_json(args.master.rstrip("/") + "/bench/mix")
    cpu = Cpu(args.pid)
    try:
        with ub.browser() as b:
            out["browser"] = b.version
            if "html" not in skip:
                out["html"] = {}
                for path in ("/", "/ui/tasks", "/ui/apps"):
                    r = {"first_response": first_response(base + path)}
                    if r["first_response"]["status"] == 200:
                        r.update(loads(b, base, path, args.loads, args.timeout))
                        r["bytes_ratio_to_target"] = ratio(r["first_response"]["bytes"],
                                                           TARGETS["html_bytes"])
                        r["fcp_ratio_to_target"] = ratio(r["fcp_median_ms"], TARGETS["fcp_ms"])
                    out["html"][path] = r
            if "paging" not in skip:
                out["paging"] = [paging(b, base, start, args.pages, args.timeout)
                                 for start in ("/ui/tasks", "/ui/tasks?per=200")]
            if "apps" not in skip:
                out["apps_live"] = cpu.part("apps_live", apps_live, b, base, args.apps_secs,
                                            args.timeout)
            if "live" not in skip:
                out["live"] = cpu.part("live", live, b, base, args.log, args.latency_secs,
                                       args.minutes, args.timeout)
    except (ub.UiError, urllib.error.URLError, OSError) as e:
        out["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(out, indent=1))
        sys.exit(1)
    out["machine"]["load_at_end"] = os.getloadavg()
    if args.pid:
        out["server_cpu_pct"] = cpu.out
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
