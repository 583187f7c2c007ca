// Drover's one script. The pages are complete without it; with it, a page stays live over
// one EventSource per tab: events update the elements that carry their key (`data-key`,
// `data-f`, `data-stat`, `data-chart`) — the latest event of each key, once per animation
// frame — and when rows come or go (or the stream had to resynchronise) the page's <main> is
// fetched again as a fragment, at most every 300 ms.

const body = document.body;
const main = document.getElementById("main");

function setLive(on) {
  body.dataset.live = on ? "on" : "off";
  const t = document.querySelector(".live-text");
  if (t) t.textContent = on ? "Live" : "Reconnecting…";
}

// ---- fragments ----
let refreshTimer = null;
let refreshing = false;
// Row events that arrive while a fragment is on its way may be newer than what it shows: they
// are kept here and applied again to the new content.
let duringFetch = null;
async function refresh() {
  refreshTimer = null;
  if (refreshing) { scheduleRefresh(); return; }
  refreshing = true;
  flushRows(false);
  duringFetch = [];
  try {
    const r = await fetch(location.href, { headers: { "X-Drover-Fragment": "1" } });
    if (r.ok) {
      const html = await r.text();
      const kept = focusedField();
      main.innerHTML = html;
      restoreField(kept);
      loadHistory();
      for (const [kind, d] of duringFetch) pendingRows.set(`${kind}:${d.id}`, [kind, d]);
      // Not a reason to fetch again: those that needed one have asked already.
      flushRows(false);
      document.dispatchEvent(new CustomEvent("drover:refreshed"));
    }
  } catch (_) { /* the stream's reconnection will bring us back */ }
  duringFetch = null;
  refreshing = false;
}
// The field being used when <main> is swapped (by id, else by its form's action and its name),
// with what was typed and where the caret was: the new content gets them back.
function focusedField() {
  const a = document.activeElement;
  if (!a || !main.contains(a)) return null;
  return {
    id: a.id, name: a.name, form: a.form && a.form.getAttribute("action"),
    value: "value" in a ? a.value : undefined,
    sel: typeof a.selectionStart === "number" ? [a.selectionStart, a.selectionEnd] : null,
  };
}
function restoreField(k) {
  if (!k) return;
  let el = k.id ? document.getElementById(k.id) : null;
  if (!el && k.name) {
    el = [...main.querySelectorAll(`[name="${CSS.escape(k.name)}"]`)]
      .find((x) => (x.form && x.form.getAttribute("action")) === k.form) || null;
  }
  if (!el) return;
  if (k.value !== undefined && "value" in el && el.type !== "checkbox" && el.type !== "radio") el.value = k.value;
  el.focus();
  if (k.sel) { try { el.setSelectionRange(k.sel[0], k.sel[1]); } catch (_) { /* not a text field */ } }
}
function scheduleRefresh() {
  if (!refreshTimer) refreshTimer = setTimeout(refresh, 300);
}
// Whether an event of `topic` about something not on the page fetches the page again: when a
// `[data-refresh]` element lists the topic — and where it says `data-refresh-on="members"` (its
// rows filtered and sorted by what an update never changes), only when the event adds or removes
// one (new, ended, gone): an update of a row elsewhere cannot change it. With 10,000 tasks
// changing 200 times a second, the tasks page would otherwise fetch itself all the time. Where
// it says `data-refresh-framework="<id>"` (the jobs pages), only that framework's tasks count.
function refreshesOn(topic, d) {
  for (const el of document.querySelectorAll("[data-refresh]")) {
    if (!el.dataset.refresh.split(",").includes(topic)) continue;
    if (el.dataset.refreshOn === "members" && d && !(d.added || d.ended || d.gone)) continue;
    const fw = el.dataset.refreshFramework;
    if (fw && d && d.framework_id && d.framework_id !== fw) continue;
    return true;
  }
  return false;
}

// ---- keyed elements: the latest event of each key, applied at the next animation frame ----
const pendingRows = new Map(); // "kind:id" -> [kind, event]
let rowFrame = 0;
function queueRow(kind, d) {
  if (duringFetch) duringFetch.push([kind, d]);
  pendingRows.set(`${kind}:${d.id}`, [kind, d]);
  if (!rowFrame) rowFrame = requestAnimationFrame(() => flushRows(true));
}
function flushRows(mayRefresh) {
  if (rowFrame) { cancelAnimationFrame(rowFrame); rowFrame = 0; }
  if (pendingRows.size === 0) return;
  // One walk of the page for the whole batch (a selector per event walked it each time).
  const byKey = new Map();
  for (const el of document.querySelectorAll("[data-key]")) {
    const list = byKey.get(el.dataset.key);
    if (list) list.push(el); else byKey.set(el.dataset.key, [el]);
  }
  let again = false;
  for (const [key, [kind, d]] of pendingRows) {
    const els = byKey.get(key);
    if (!els || d.gone) {
      again ||= mayRefresh && refreshesOn(kind, d);
      continue;
    }
    for (const el of els) applyRow(el, d);
    // A task that ended may leave this view (the active tasks): fetch it again.
    if (d.ended) again ||= mayRefresh && refreshesOn(kind, d);
  }
  pendingRows.clear();
  if (again) scheduleRefresh();
}
function applyRow(el, d) {
  if (d.state) el.dataset.state = d.state;
  if (d.status) el.dataset.status = d.status;
  for (const f of el.querySelectorAll("[data-f]")) {
    const v = d[f.dataset.f];
    if (v === undefined) continue;
    if (f.tagName === "METER" || f.tagName === "PROGRESS") f.value = v;
    else f.textContent = v;
  }
  for (const b of el.querySelectorAll("[data-bar]")) {
    const [num, den] = b.dataset.bar.split("/");
    const pct = d[den] > 0 ? Math.min(100, (100 * d[num]) / d[den]) : 0;
    b.style.width = `${pct}%`;
  }
}

function applyStats(d) {
  for (const el of document.querySelectorAll("[data-stat]")) {
    const v = d[el.dataset.stat];
    if (v !== undefined) el.textContent = v;
  }
  for (const el of document.querySelectorAll("[data-stat^='state-']")) {
    if (d[el.dataset.stat] === undefined) el.textContent = "0";
  }
}

// ---- charts: the last minute, sampled by the server ----
let series = [];
function loadHistory() {
  const h = document.getElementById("history");
  series = h ? JSON.parse(h.textContent) : [];
}
const COLS = { cpus: 1, mem: 2, disk: 3, failure: 4 };
function drawCharts() {
  const W = 300, H = 60, N = 31, step = W / (N - 1);
  for (const pl of document.querySelectorAll("polyline[data-chart]")) {
    const c = COLS[pl.dataset.chart];
    const n = series.length;
    pl.setAttribute("points", series.map((s, i) =>
      `${(W - (n - 1 - i) * step).toFixed(1)},${(H - Math.max(0, Math.min(100, s[c])) / 100 * H).toFixed(1)}`).join(" "));
  }
}
function applySample(s) {
  if (!document.getElementById("history")) return;
  const pct = (u, t) => (t > 0 ? Math.min(100, (100 * u) / t) : 0);
  series.push([s.t, pct(s.used.cpus, s.total.cpus), pct(s.used.mem, s.total.mem), pct(s.used.disk, s.total.disk), s.failure_rate]);
  while (series.length > 31) series.shift();
  drawCharts();
  const fr = document.querySelector("[data-stat='failure-rate']");
  if (fr) fr.textContent = Math.round(s.failure_rate * 100) / 100;
}

// ---- a task's log: `log` events append to its <pre>, which keeps at most LOG_MAX lines ----
// (pages/sandbox/tail.rs sends them.) The panel's `data-log-offset` follows the tail, so a
// reopened stream goes on where this one stopped; text nodes are dropped oldest first, so the
// heap stays bounded however long the tab stays open.
const LOG_MAX = 5000;
const logPanel = document.querySelector("[data-log]");
const logText = logPanel && logPanel.querySelector("pre");
const logChunks = []; // [text node, its line count], oldest first
let logLines = 0;
function countLines(s) {
  let n = 0;
  for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) n++;
  return n;
}
function logAppend(text) {
  const node = document.createTextNode(text);
  logText.appendChild(node);
  const n = countLines(text);
  logChunks.push([node, n]);
  logLines += n;
  while (logChunks.length > 1 && logLines - logChunks[0][1] >= LOG_MAX) {
    const [old, k] = logChunks.shift();
    old.remove();
    logLines -= k;
  }
  if (logLines > LOG_MAX) {
    const first = logChunks[0];
    let cut = 0;
    for (let k = logLines - LOG_MAX; k > 0; k--) cut = first[0].data.indexOf("\n", cut) + 1;
    first[0].data = first[0].data.slice(cut);
    first[1] -= logLines - LOG_MAX;
    logLines = LOG_MAX;
  }
  if (document.getElementById("log-follow")?.checked) logText.scrollTop = logText.scrollHeight;
}
function applyLog(d) {
  const status = document.getElementById("log-status");
  if (d.error) { if (status) status.textContent = `Following the log: ${d.error}`; return; }
  if (status) status.textContent = "";
  if (d.note) logAppend(`\n[drover: ${d.note}]\n`);
  const at = Number(logPanel.dataset.logOffset ?? -1);
  // A chunk this page already has (the stream replays nothing, but be sure) is not added twice.
  if (d.data && !(d.next <= at)) logAppend(d.data);
  if (typeof d.next === "number") logPanel.dataset.logOffset = String(d.next);
}
if (logText) {
  const rendered = logText.textContent;
  logText.textContent = "";
  logAppend(rendered);
  logPanel.querySelector(".log-controls")?.removeAttribute("hidden");
  // A fragment refresh re-renders <main>: keep this panel (its text and offset) instead.
  document.addEventListener("drover:refreshed", () => {
    const fresh = document.querySelector("[data-log]");
    if (fresh && fresh !== logPanel) fresh.replaceWith(logPanel);
  });
}

// ---- the stream ----
let lastId = ""; // the last event id seen: a stream this page reopens resumes after it
let retry = 1000;
function streamUrl() {
  const p = new URLSearchParams({ topics: body.dataset.topics, since: lastId || body.dataset.since || "" });
  if (logPanel) {
    p.set("log", logPanel.dataset.log);
    if (logPanel.dataset.logOffset) p.set("log_offset", logPanel.dataset.logOffset);
  }
  return `/ui/events?${p}`;
}
function connect() {
  const topics = body.dataset.topics;
  if (!topics) return;
  const es = new EventSource(streamUrl());
  es.onopen = () => { setLive(true); retry = 1000; };
  es.onerror = () => {
    setLive(es.readyState === EventSource.OPEN);
    // The browser would reconnect to the URL it opened, with the log's first offset: a page
    // following a log reopens the stream itself, from its offset and last event id.
    // The browser gives up for good after an HTTP error answer (a proxy's 502 while the
    // gateway restarts): reopen it then too, after the last event seen.
    if (logPanel || es.readyState === EventSource.CLOSED) {
      es.close();
      setTimeout(() => { connect(); afterConnect(); }, retry);
      retry = Math.min(retry * 2, 10000);
    }
  };
  const on = (name, f) => es.addEventListener(name, (e) => {
    if (e.lastEventId) lastId = e.lastEventId;
    let d = {};
    try { d = JSON.parse(e.data); } catch (_) { return; }
    f(d);
  });
  on("stats", applyStats);
  on("sample", applySample);
  for (const kind of ["task", "app", "agent", "framework"]) on(kind, (d) => queueRow(kind, d));
  for (const kind of ["agent_gone", "framework_gone", "deployments", "deployment"]) {
    on(kind, () => { if (refreshesOn(kind)) scheduleRefresh(); });
  }
  on("mark", () => {}); // only its id: where a reopened stream resumes
  on("resync", scheduleRefresh);
  on("reset", scheduleRefresh);
  if (logPanel) on("log", applyLog);
  window.droverEvents = es;
}

// ---- keyboard: g then a letter goes to a page; / focuses the filter; ? lists them ----
const GO = { d: "/", s: "/ui/services", a: "/ui/apps", e: "/ui/deployments", n: "/ui/nodes", t: "/ui/tasks", p: "/ui/packages", r: "/ui/resources" };
let pendingG = false;
// They can be turned off (the keys panel's checkbox, kept in this browser): a single key is
// easy to press by mistake with speech input.
const keysToggle = document.getElementById("keys-on");
const keysOn = () => localStorage.getItem("drover-keys") !== "off";
if (keysToggle) {
  keysToggle.checked = keysOn();
  keysToggle.addEventListener("change", () => localStorage.setItem("drover-keys", keysToggle.checked ? "on" : "off"));
}
document.addEventListener("keydown", (e) => {
  const t = e.target;
  if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) return;
  if (!keysOn() && e.key !== "?") return;
  if (pendingG && GO[e.key]) { location.href = GO[e.key]; pendingG = false; return; }
  pendingG = e.key === "g";
  if (e.key === "/") {
    const f = document.querySelector("form[role=search] input");
    if (f) { e.preventDefault(); f.focus(); }
  } else if (e.key === "c" && document.getElementById("new-app")) {
    location.href = "/ui/apps/new";
  } else if (e.key === "?") {
    const k = document.getElementById("keys");
    if (k) { k.open = !k.open; if (k.open) k.querySelector("summary")?.focus(); }
  }
});

// Forms that change the cluster ask first when they say so.
document.addEventListener("submit", (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) e.preventDefault();
});

// A form that asks on the server without the script (its `confirmed` field empty) skips that
// page once the dialog above said yes. And a page answered with errors starts at their summary.
document.addEventListener("submit", (e) => {
  const f = e.target;
  if (!e.defaultPrevented && f.dataset && f.dataset.confirm && f.elements.confirmed) {
    f.elements.confirmed.value = "yes";
  }
});
document.getElementById("form-errors")?.focus();

loadHistory();
connect();

// ---- apps: a page about one app (data-refresh-key="app:<id>") re-reads its <main> when the
// app changes (its tasks came or went) or a deployment moves — but not while one of its fields
// is being edited (the Scale field would lose what is typed): then once the field is left. ----
let keyedPending = false;
function editing() {
  const a = document.activeElement;
  return a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName);
}
function refreshKeyed() {
  if (editing()) { keyedPending = true; return; }
  keyedPending = false;
  scheduleRefresh();
}
main.addEventListener("focusout", () => {
  // After the focus has moved on (it may be to another field of the page).
  if (keyedPending) setTimeout(refreshKeyed, 0);
});
// The page's one stream (the browser reconnects it in place; a page reopens it after an HTTP
// error, and log pages always): the listeners below are attached to each stream opened.
function afterConnect() {
  if (!window.droverEvents) return;
  const keyed = (id) => document.querySelector(`[data-refresh-key="app:${CSS.escape(id)}"]`);
  window.droverEvents.addEventListener("app", (e) => {
    let d = {};
    try { d = JSON.parse(e.data); } catch (_) { return; }
    if (d.id && keyed(d.id)) refreshKeyed();
  });
  window.droverEvents.addEventListener("deployments", () => {
    if (document.querySelector("[data-refresh-key]")) refreshKeyed();
  });
}
afterConnect();

// ---- the spec editor (pages/editor.rs): Form ⇄ JSON in place. The server does the switch
// (it posts the form and renders the other mode, so what was typed carries across, exactly as
// without the script); the script only keeps the page where it is. ----
async function editorSwitch(form, to) {
  const data = new URLSearchParams(new FormData(form));
  data.set("action", to);
  // getAttribute: the form has controls named "action", which `form.action` would give.
  const r = await fetch(form.getAttribute("action"), {
    method: "POST", body: data,
    headers: { "X-Drover-Fragment": "1", "Content-Type": "application/x-www-form-urlencoded" },
  });
  // 422: the mode could not be switched (JSON that is not JSON); the page says why.
  if (!r.ok && r.status !== 422) throw new Error(`HTTP ${r.status}`);
  main.innerHTML = await r.text();
  const json = main.querySelector("#spec input[name=mode]")?.value === "json";
  const u = new URL(location.href);
  if (json) u.searchParams.set("mode", "json"); else u.searchParams.delete("mode");
  history.replaceState(null, "", u);
  (main.querySelector("#form-errors") || main.querySelector("#spec [aria-invalid=true]")
    || main.querySelector("nav.modes a[aria-current]"))?.focus();
}
document.addEventListener("click", (e) => {
  const t = e.target.closest && e.target.closest("[data-editor-switch]");
  const form = t && document.getElementById("spec");
  if (!form || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  // Without an answer, switch the way the page does without the script.
  editorSwitch(form, t.dataset.editorSwitch).catch(() => {
    const b = form.querySelector(`button[data-editor-switch="${t.dataset.editorSwitch}"]`);
    if (b) form.requestSubmit(b); else location.href = t.href;
  });
});
