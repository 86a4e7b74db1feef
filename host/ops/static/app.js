// AimDB dashboard: speaks the AimX v3 control protocol over /ws?v=3.0 and nothing
// else. Every record is followed with one subscription ("#"); the built-in record
// aimdb.status pushes link, connector and rate updates once a second. State is kept
// in fixed-size structures (one entry per record, link and connector; a short
// dead-letter tail), so a page left open holds steady memory.
"use strict";

const STATUS = "aimdb.status";
const DEAD = "aimdb.dead_letters";
const DEAD_TAIL = 20;
const PING_EVERY = 30000;

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const stateClass = (s) => "state state-" + String(s).replace(/\s+/g, "-");

let ws = null;
let nextId = 1;
const pending = new Map(); // request id -> {resolve, reject}
const records = new Map(); // key -> {row, cells, value, dirty}
const links = new Map();   // link id -> {row, cells}
const connectors = new Map(); // name -> {row, cells}
let deadCount = 0;
let drawPending = false;
let retry = 1000;
let pinger = null;
let lastStatus = null;

function send(frame) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
}

function request(method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    const f = { t: "req", id, method };
    if (params !== undefined) f.params = params;
    send(f);
  });
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(proto + "//" + location.host + "/ws?v=3.0");
  ws.onopen = onOpen;
  ws.onmessage = (m) => onFrame(JSON.parse(m.data));
  ws.onclose = () => {
    setConn(false, "disconnected, retrying");
    clearInterval(pinger);
    for (const p of pending.values()) p.reject(new Error("connection lost"));
    pending.clear();
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

function setConn(up, text) {
  const c = $("conn");
  c.textContent = text;
  c.className = "conn " + (up ? "conn-up" : "conn-down");
}

async function onOpen() {
  retry = 1000;
  setConn(true, "live");
  pinger = setInterval(() => send({ t: "ping", id: nextId++ }), PING_EVERY);
  try {
    const hello = await request("hello");
    $("server").textContent = hello.server + " " + (hello.server_version || "") + " · AimX " + hello.version;
    fillEditor(hello.writable || []);
    const recs = await request("record.list");
    buildRecords(recs);
    const [nodes, edges] = await Promise.all([request("graph.nodes"), request("graph.edges")]);
    drawGraph(nodes, edges);
    send({ t: "sub", id: nextId++, topic: "#" });
  } catch (e) {
    setConn(false, "error: " + e.message);
  }
}

function onFrame(f) {
  switch (f.t) {
    case "reply": {
      const p = pending.get(f.id);
      if (!p) return;
      pending.delete(f.id);
      if (f.err) p.reject(new Error(f.err + ": " + (f.msg || "")));
      else p.resolve(f.ok);
      return;
    }
    case "snap":
    case "event":
      onValue(f.topic, f.data);
      return;
  }
}

function onValue(key, data) {
  if (key === STATUS) {
    renderStatus(data);
    return;
  }
  if (key === DEAD) addDeadLetter(data);
  const r = records.get(key);
  if (!r) return;
  r.value = data;
  r.dirty = true;
  scheduleDraw();
}

// Values may arrive thousands a second: the table is redrawn once per frame.
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    for (const r of records.values()) {
      if (!r.dirty) continue;
      r.dirty = false;
      const text = JSON.stringify(r.value);
      r.cells.value.textContent = text.length > 300 ? text.slice(0, 300) + "…" : text;
      r.cells.value.title = text.length > 2000 ? text.slice(0, 2000) + "…" : text;
    }
  });
}

function buildRecords(recs) {
  const body = $("records").tBodies[0];
  body.replaceChildren();
  records.clear();
  for (const rec of recs) {
    if (rec.key === STATUS) continue;
    const row = el("tr");
    row.dataset.record = rec.key;
    const cells = {
      key: el("td", "", rec.key), buffer: el("td", "", rec.buffer), value: el("td", "value", "–"),
      rate: el("td", "n", "0"), produced: el("td", "n", String((rec.counters || {}).produced || 0)),
      dropped: el("td", "n", String((rec.counters || {}).dropped || 0)), refused: el("td", "n", String((rec.counters || {}).refused || 0)),
    };
    row.append(cells.key, cells.buffer, cells.value, cells.rate, cells.produced, cells.dropped, cells.refused);
    body.append(row);
    records.set(rec.key, { row, cells, value: undefined, dirty: false });
  }
  if (lastStatus) renderStatus(lastStatus);
}

function renderStatus(st) {
  lastStatus = st;
  for (const r of st.records || []) {
    const rec = records.get(r.key);
    if (!rec) continue;
    rec.cells.rate.textContent = r.rate.toFixed(1);
    rec.cells.produced.textContent = String(r.produced);
    rec.cells.dropped.textContent = String(r.dropped);
    rec.cells.refused.textContent = String(r.refused);
  }
  renderConnectors(st.connectors || []);
  renderLinks(st.links || []);
}

function upsert(map, key, tbody, cols, attr) {
  let e = map.get(key);
  if (!e) {
    const row = el("tr");
    row.dataset[attr] = key;
    const cells = {};
    for (const [name, cls] of cols) {
      cells[name] = el("td", cls);
      row.append(cells[name]);
    }
    tbody.append(row);
    e = { row, cells, seen: true };
    map.set(key, e);
  }
  e.seen = true;
  return e;
}

function prune(map) {
  for (const [k, e] of map) {
    if (!e.seen) {
      e.row.remove();
      map.delete(k);
    }
    e.seen = false;
  }
}

function renderConnectors(cs) {
  const body = $("connectors").tBodies[0];
  for (const c of cs) {
    const e = upsert(connectors, c.name, body, [["name", ""], ["kind", ""], ["state", ""], ["health", "err"], ["pid", "n"], ["restarts", "n"], ["since", ""]], "connector");
    e.cells.name.textContent = c.name;
    e.cells.kind.textContent = c.kind;
    e.cells.state.textContent = c.state;
    e.cells.state.className = stateClass(c.state);
    e.cells.health.textContent = c.health || "";
    e.cells.pid.textContent = c.pid ? String(c.pid) : "–";
    e.cells.restarts.textContent = String(c.restarts);
    e.cells.since.textContent = new Date(c.since).toLocaleTimeString();
  }
  prune(connectors);
}

const linkStates = new Map(); // link URL -> state, for the graph

function renderLinks(ls) {
  const body = $("links").tBodies[0];
  linkStates.clear();
  for (const l of ls) {
    const e = upsert(links, String(l.id), body, [["record", ""], ["url", ""], ["instance", ""], ["state", ""], ["delivered", "n"], ["failed", "n"], ["retried", "n"], ["dead", "n"], ["dropped", "n"], ["received", "n"], ["refused", "n"], ["waiting", "n"], ["error", "err"]], "linkId");
    e.row.dataset.link = l.url;
    e.row.dataset.direction = l.direction;
    const c = l.counters || {};
    e.cells.record.textContent = l.record;
    e.cells.url.textContent = (l.direction === "link_from" ? "← " : "→ ") + l.url;
    e.cells.instance.textContent = l.instance;
    e.cells.state.textContent = l.state;
    e.cells.state.className = stateClass(l.state);
    e.cells.delivered.textContent = String(c.Delivered || 0);
    e.cells.failed.textContent = String(c.Failed || 0);
    e.cells.retried.textContent = String(c.Retried || 0);
    e.cells.dead.textContent = String(c.DeadLettered || 0);
    e.cells.dropped.textContent = String(c.Dropped || 0);
    e.cells.received.textContent = String(c.Received || 0);
    e.cells.refused.textContent = String(c.Refused || 0);
    const waiting = l.direction === "link_from" ? l.held : (l.outbox === "disk" ? l.outbox_messages : l.in_flight) + l.backlog;
    e.cells.waiting.textContent = String(waiting || 0);
    e.cells.error.textContent = l.last_error && l.state !== "ok" ? l.last_error.text : "";
    e.cells.error.title = l.last_error ? l.last_error.text : "";
    linkStates.set(l.url, l.state);
  }
  prune(links);
  colourGraph();
}

function addDeadLetter(d) {
  deadCount++;
  const list = $("dead");
  const text = d && typeof d === "object"
    ? `${d.time || ""} ${d.direction || ""} ${d.link || ""} [${d.error_kind || ""}] ${d.error || ""} payload=${d.payload || ""}`
    : JSON.stringify(d);
  list.prepend(el("li", "", text));
  while (list.children.length > DEAD_TAIL) list.lastElementChild.remove();
}

// ---- editor ----

function fillEditor(writable) {
  const sel = $("edit-key");
  sel.replaceChildren();
  for (const k of writable) sel.append(el("option", "", k));
  validate();
}

function validate() {
  const ta = $("edit-value");
  const msg = $("edit-msg");
  const btn = $("edit-set");
  if ($("edit-key").options.length === 0) {
    btn.disabled = true;
    msg.textContent = "no writable record";
    msg.className = "muted";
    return undefined;
  }
  try {
    const v = JSON.parse(ta.value);
    ta.classList.remove("invalid");
    btn.disabled = false;
    msg.textContent = "valid JSON";
    msg.className = "good";
    return v;
  } catch (e) {
    const empty = ta.value.trim() === "";
    ta.classList.toggle("invalid", !empty);
    btn.disabled = true;
    msg.textContent = empty ? "type a JSON value" : "not JSON: " + e.message;
    msg.className = empty ? "muted" : "bad";
    return undefined;
  }
}

async function submit(ev) {
  ev.preventDefault();
  const value = validate();
  if (value === undefined) return;
  const key = $("edit-key").value;
  const msg = $("edit-msg");
  try {
    await request("record.set", { key, value });
    msg.textContent = "set " + key;
    msg.className = "good";
  } catch (e) {
    msg.textContent = e.message;
    msg.className = "bad";
  }
}

// ---- data-flow graph ----

const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs) => {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
};
const graphNodes = new Map(); // node id -> <g>

// drawGraph lays the graph out in columns: inbound endpoints, records by depth
// (a transform's record right of its inputs), outbound endpoints.
function drawGraph(nodes, edges) {
  const svg = $("graph");
  svg.replaceChildren();
  graphNodes.clear();
  const defs = svgEl("defs");
  const marker = svgEl("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(svgEl("path", { d: "M0,0 L10,5 L0,10 z" }));
  defs.append(marker);
  svg.append(defs);
  const kind = new Map(nodes.map((n) => [n.id, n.kind]));
  const preds = new Map();
  const isSource = new Set();
  for (const e of edges) {
    if (!preds.has(e.to)) preds.set(e.to, []);
    preds.get(e.to).push(e.from);
    if (kind.get(e.from) !== "record") isSource.add(e.from);
  }
  const level = new Map();
  const depth = (id, seen) => {
    if (level.has(id)) return level.get(id);
    if (seen.has(id)) return 1;
    seen.add(id);
    let d = kind.get(id) === "record" ? 1 : 0;
    for (const p of preds.get(id) || []) if (kind.get(id) === "record") d = Math.max(d, depth(p, seen) + 1);
    level.set(id, d);
    return d;
  };
  let maxRec = 1;
  for (const n of nodes) if (n.kind === "record") maxRec = Math.max(maxRec, depth(n.id, new Set()));
  for (const n of nodes) {
    if (n.kind !== "record") level.set(n.id, isSource.has(n.id) ? 0 : maxRec + 1);
  }
  const cols = new Map();
  for (const n of nodes) {
    if (n.id === STATUS) continue;
    const l = level.get(n.id);
    if (!cols.has(l)) cols.set(l, []);
    cols.get(l).push(n);
  }
  const W = 210, H = 34, GX = 60, GY = 14;
  const pos = new Map();
  let height = 0;
  for (const [l, col] of cols) {
    col.forEach((n, i) => {
      const x = 10 + l * (W + GX), y = 10 + i * (H + GY);
      pos.set(n.id, { x, y });
      height = Math.max(height, y + H + 10);
    });
  }
  const width = 10 + (maxRec + 2) * (W + GX);
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(height, 40)}`);
  svg.setAttribute("height", String(Math.max(height, 40)));
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    const path = svgEl("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, "marker-end": "url(#arrow)" });
    const title = svgEl("title");
    title.textContent = e.label || "";
    path.append(title);
    svg.append(path);
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const g = svgEl("g", { class: n.kind === "record" ? "node-record" : "node-link", transform: `translate(${p.x},${p.y})` });
    g.append(svgEl("rect", { width: W, height: H, rx: 6 }));
    const t = svgEl("text", { x: 8, y: H / 2 + 4 });
    const label = n.kind === "record" ? n.id : n.label || n.id;
    t.textContent = label.length > 30 ? label.slice(0, 29) + "…" : label;
    const title = svgEl("title");
    title.textContent = n.label ? n.id + " (" + n.label + ")" : n.id;
    g.append(t, title);
    svg.append(g);
    graphNodes.set(n.id, g);
  }
  colourGraph();
}

function colourGraph() {
  for (const [id, g] of graphNodes) {
    if (!g.classList.contains("node-link") && !g.classList.contains("node-record")) continue;
    const s = linkStates.get(id);
    if (s && g.classList.contains("node-link")) g.setAttribute("class", "node-link state-" + s);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("edit-value").addEventListener("input", validate);
  $("edit-key").addEventListener("change", validate);
  $("editor").addEventListener("submit", submit);
  connect();
});
