// faultlab console: renders the state streamed on /api/events and sends
// the forms to the console's API with the page's token.
"use strict";

const token = document.querySelector('meta[name="console-token"]').content;
const svgNS = "http://www.w3.org/2000/svg";
const $ = (sel) => document.querySelector(sel);
let state = null;
let scenarios = [];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function say(text, bad) {
  const m = $("#message");
  m.textContent = text;
  m.className = bad ? "message bad" : "message";
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { m.textContent = ""; }, bad ? 8000 : 3000);
}

async function call(method, path, body) {
  const opts = { method, headers: { "X-Console-Token": token } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  if (!resp.ok) {
    let detail = resp.status + " " + resp.statusText;
    try { const p = await resp.json(); detail = p.detail || p.title || detail; } catch (e) { /* not JSON */ }
    say(detail, true);
    return null;
  }
  return resp.status === 204 ? {} : resp.json();
}

const fmtRPS = (t) => t.rps.toFixed(1) + "/s";
const fmtErr = (t) => (100 * t.error_rate).toFixed(1) + "%";
const fmtP99 = (t) => t.p99_ms === null || t.p99_ms === undefined ? "—" : Math.round(t.p99_ms) + "ms";
const stateName = (b) => b.replace("_", " ");

// layout places each service in a column by its longest path from a public
// service, so calls flow left to right.
function layout(st) {
  const depth = {};
  const byName = {};
  st.services.forEach((s) => { byName[s.name] = s; depth[s.name] = s.public ? 0 : -1; });
  for (let changed = true, n = 0; changed && n < 50; n++) {
    changed = false;
    for (const h of st.hops) {
      if (depth[h.caller] >= 0 && depth[h.callee] < depth[h.caller] + 1) {
        depth[h.callee] = depth[h.caller] + 1;
        changed = true;
      }
    }
  }
  const cols = {};
  st.services.forEach((s) => { const d = Math.max(0, depth[s.name]); (cols[d] = cols[d] || []).push(s.name); });
  const ncol = Object.keys(cols).length;
  const pos = {};
  Object.entries(cols).forEach(([d, names]) => {
    names.forEach((name, i) => {
      const eps = byName[name].endpoints.length;
      const h = 44 + 16 * eps;
      pos[name] = { x: 20 + d * ((960 - 170) / Math.max(1, ncol - 1)), y: 110 + (i + 1) * 260 / (names.length + 1) - h / 2, w: 130, h };
    });
  });
  return pos;
}

function drawTopology(st) {
  const root = $("#topology");
  root.replaceChildren();
  const pos = layout(st);
  const svcs = {};
  st.services.forEach((s) => { svcs[s.name] = s; });
  const arcs = { up: 0, down: 0 };
  for (const h of st.hops) {
    const a = pos[h.caller], b = pos[h.callee];
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x - 6, y2 = b.y + b.h / 2;
    // A hop that skips a column arcs above the boxes when its callee sits
    // in the upper half, below them otherwise; each arc a little further out.
    let c1 = [x1 + (x2 - x1) / 3, y1], c2 = [x2 - (x2 - x1) / 3, y2];
    if (Math.round((b.x - a.x) / colWidth(pos)) > 1) {
      const up = b.y + b.h / 2 < 240 || (b.y + b.h / 2 === 240 && arcs.up <= arcs.down);
      const level = up ? arcs.up++ : arcs.down++;
      const peak = up ? 120 - 20 * level : 360 + 20 * level;
      const cy = (peak - (y1 + y2) / 8) / 0.75;
      c1 = [c1[0], cy];
      c2 = [c2[0], cy];
    }
    const mid = [(x1 + 3 * c1[0] + 3 * c2[0] + x2) / 8, (y1 + 3 * c1[1] + 3 * c2[1] + y2) / 8];
    const cls = "hop breaker-" + h.breaker + (h.toxics.length ? " toxic" : "");
    const g = svg("g", { id: "hop-" + h.name, class: cls, "data-breaker": h.breaker, "data-toxics": h.toxics.map((t) => t.name).join(" ") });
    g.append(svg("path", { class: "edge", d: `M${x1},${y1} C${c1[0]},${c1[1]} ${c2[0]},${c2[1]} ${x2},${y2}` }));
    g.append(svg("circle", { class: "end", cx: x2, cy: y2, r: 6, fill: breakerColour(h.breaker) }));
    if (h.rps > 0 || h.toxics.length) {
      g.append(svg("text", { class: "small label", x: mid[0], y: mid[1] - 5, "text-anchor": "middle" }, `${fmtRPS(h)} · ${fmtErr(h)} · ${fmtP99(h)}`));
    }
    if (h.toxics.length) {
      g.append(svg("text", { class: "toxic label", x: mid[0], y: mid[1] + 10, "text-anchor": "middle" }, "⚡ " + h.toxics.map((t) => t.kind).join(", ")));
    }
    g.append(svg("title", {}, `${h.name}: breaker ${stateName(h.breaker)}`));
    root.append(g);
  }
  for (const s of st.services) {
    const p = pos[s.name];
    const down = s.endpoints.some((e) => !e.up);
    const cls = "node" + (s.faults.length ? " faulty" : "") + (down ? " down" : "");
    const g = svg("g", { id: "svc-" + s.name, class: cls, "data-faults": s.faults.map((f) => f.name).join(" ") });
    g.append(svg("rect", { class: "svc", x: p.x, y: p.y, width: p.w, height: p.h, rx: 6 }));
    g.append(svg("text", { class: "name", x: p.x + 8, y: p.y + 17 }, s.name + (s.public ? " (public)" : "")));
    s.endpoints.forEach((e, i) => {
      const ey = p.y + 26 + 16 * i;
      g.append(svg("rect", { class: "ep" + (e.up ? "" : " down"), x: p.x + 8, y: ey, width: 10, height: 10, rx: 2 }));
      g.append(svg("text", { class: "small", x: p.x + 24, y: ey + 9 }, e.url.replace(/^https?:\/\//, "")));
    });
    if (s.faults.length) {
      g.append(svg("text", { class: "toxic", x: p.x + 8, y: p.y + p.h - 6 }, "⚠ " + s.faults.map((f) => f.kind + (f.status ? " " + f.status : "")).join(", ")));
    }
    root.append(g);
  }
}

// colWidth is the distance between two columns of the layout.
function colWidth(pos) {
  const xs = [...new Set(Object.values(pos).map((p) => p.x))].sort((a, b) => a - b);
  return xs.length > 1 ? xs[1] - xs[0] : 1;
}

function breakerColour(b) {
  return { closed: "#2e7d32", half_open: "#f9a825", open: "#c62828" }[b] || "#8a94a6";
}

// chip is an active fault with its remove button; one listener on the
// document handles every button (see setup), so a re-render never drops it.
function chip(label, cls, removePath, done, id) {
  const b = el("button", { type: "button", title: "remove", "aria-label": "remove " + label, id, "data-remove": removePath, "data-done": done });
  b.textContent = "×";
  return el("span", { class: cls }, label, b);
}

// patchRows puts rows into tbody, keeping every existing cell that has not
// changed, so that a button is not replaced under the user's pointer.
function patchRows(tbody, rows) {
  rows.forEach((row, i) => {
    const old = tbody.rows[i];
    if (!old) { tbody.append(row); return; }
    if (old.cells.length !== row.cells.length) { old.replaceWith(row); return; }
    [...row.cells].forEach((cell, j) => {
      if (!old.cells[j].isEqualNode(cell)) old.cells[j].replaceWith(cell);
    });
  });
  while (tbody.rows.length > rows.length) tbody.lastElementChild.remove();
}

function toxicLabel(t) {
  const a = Object.entries(t.attributes || {}).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(" ");
  return `${t.kind}${a ? " " + a : ""}${t.toxicity < 1 ? " p=" + t.toxicity : ""}${t.kind !== "down" ? " " + t.stream : ""}`;
}

function td(text, cls) { const c = el("td", cls ? { class: cls } : {}); c.textContent = text; return c; }

function renderTables(st) {
  patchRows($("#hops tbody"), st.hops.map((h) => {
    const toxics = el("td", {}, ...h.toxics.map((t) =>
      chip(toxicLabel(t), "chip", `/api/toxics/${h.name}/${encodeURIComponent(t.name)}`, `removed ${t.name} from ${h.name}`, `rm-toxic-${h.name}-${t.name}`)));
    const badge = el("span", { class: "badge breaker-" + h.breaker, id: "breaker-" + h.name });
    badge.textContent = stateName(h.breaker);
    return el("tr", {}, td(h.name), el("td", {}, badge), td(fmtRPS(h), "num"), td(fmtErr(h), "num"), td(fmtP99(h), "num"), toxics);
  }));
  patchRows($("#services tbody"), st.services.map((s) => {
    const eps = el("td", {}, ...s.endpoints.map((e) => {
      const sp = el("span", { class: e.up ? "up" : "down", title: e.error || "" });
      sp.textContent = (e.up ? "● " : "✕ ") + e.url + " ";
      return sp;
    }));
    const faults = el("td", {}, ...(s.fault_api ? s.faults.map((f) =>
      chip(`${f.name}: ${f.kind}${f.status ? " " + f.status : ""}${f.delay ? " " + f.delay : ""}${f.path_prefix ? " " + f.path_prefix : ""}`, "chip fault",
        `/api/faults/${s.name}/${encodeURIComponent(f.name)}`, `removed ${f.name} from ${s.name}`, `rm-fault-${s.name}-${f.name}`)) : ["— (no fault API)"]));
    return el("tr", {}, td(s.name), eps, faults);
  }));
  patchRows($("#routes tbody"), st.routes.map((r) =>
    el("tr", {}, td(r.service), td(r.route), td(fmtRPS(r), "num"), td(fmtErr(r), "num"), td(fmtP99(r), "num"))));
  $("#errors").textContent = (st.errors || []).join(" · ");
  $("#at").textContent = "scraped " + new Date(st.at).toLocaleTimeString();
}

function renderRun(run) {
  const box = $("#run");
  if (!run) { box.replaceChildren(); return; }
  const head = el("p", { id: "run-status" });
  let verdict = "running";
  if (!run.running) verdict = run.error ? "error" : run.passed ? "passed" : "failed";
  head.textContent = `${run.scenario}: ${verdict}` + (run.aborted ? ` (aborted: ${run.aborted})` : "") + (run.error ? `: ${run.error}` : "");
  head.dataset.verdict = verdict;
  const prog = el("p", { class: "progress" });
  prog.textContent = run.progress || "";
  const rows = (run.verdicts || []).map((v) => {
    const res = v.skipped ? "skip" : v.pass ? "pass" : "fail";
    return el("tr", {}, td(res.toUpperCase(), "verdict-" + res), td(v.phase), td(v.check), td(v.measured), td(v.want));
  });
  const table = el("table", { id: "verdicts" }, el("thead", {}, el("tr", {}, td("verdict"), td("phase"), td("check"), td("measured"), td("want"))), el("tbody", {}, ...rows));
  box.replaceChildren(head, prog, ...(rows.length ? [table] : []));
}

function fillSelect(sel, values) {
  const cur = sel.value;
  if (sel.options.length === values.length) return;
  sel.replaceChildren(...values.map((v) => { const o = el("option", {}); o.textContent = v; return o; }));
  if (values.includes(cur)) sel.value = cur;
}

function render(st) {
  state = st;
  fillSelect($("#toxic-form [name=hop]"), st.hops.map((h) => h.name));
  fillSelect($("#fault-form [name=service]"), st.services.filter((s) => s.fault_api).map((s) => s.name));
  drawTopology(st);
  renderTables(st);
  renderRun(st.run);
}

// showFor hides the inputs that do not apply to the chosen kind.
function showFor(form) {
  const kind = form.elements.kind.value;
  form.querySelectorAll("label[data-for]").forEach((l) => {
    l.classList.toggle("hidden", !l.dataset.for.split(" ").includes(kind));
  });
}

function numbers(form, names, out) {
  for (const n of names) {
    const lab = form.elements[n].closest("label");
    const v = form.elements[n].value;
    if (v !== "" && !lab.classList.contains("hidden")) out[n] = Number(v);
  }
  return out;
}

function setup() {
  const tf = $("#toxic-form"), ff = $("#fault-form"), rf = $("#run-form");
  document.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-remove]");
    if (b && await call("DELETE", b.dataset.remove)) say(b.dataset.done);
  });
  for (const f of [tf, ff]) { f.elements.kind.addEventListener("change", () => showFor(f)); showFor(f); }
  tf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = numbers(tf, ["latency_ms", "jitter_ms", "timeout_ms", "rate_kbps", "delay_ms", "average_size"], { hop: tf.elements.hop.value, kind: tf.elements.kind.value });
    if (t.kind !== "down") {
      t.stream = tf.elements.stream.value;
      const p = Number(tf.elements.toxicity.value);
      if (tf.elements.toxicity.value !== "" && p !== 1) t.toxicity = p;
    }
    if (await call("POST", "/api/toxics", t)) say(`added ${t.kind} on ${t.hop}`);
  });
  ff.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const e = ff.elements;
    const f = numbers(ff, ["status", "retry_after", "bytes_per_second"], { name: e.name.value, kind: e.kind.value });
    if (f.kind === "delay") f.delay = e.delay.value;
    if (e.probability.value !== "" && Number(e.probability.value) !== 1) f.probability = Number(e.probability.value);
    if (e.path_prefix.value) f.path_prefix = e.path_prefix.value;
    if (await call("POST", `/api/faults/${e.service.value}`, f)) say(`added ${f.name} on ${e.service.value}`);
  });
  rf.elements.scenario.addEventListener("change", describe);
  rf.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await call("POST", "/api/runs", { scenario: rf.elements.scenario.value });
    if (r) say(`started ${r.scenario}`);
  });
  fetch("/api/scenarios").then((r) => r.json()).then((list) => {
    scenarios = list;
    fillSelect(rf.elements.scenario, list.map((s) => s.name));
    describe();
  });
  const es = new EventSource("/api/events");
  es.addEventListener("state", (ev) => render(JSON.parse(ev.data)));
  es.addEventListener("open", () => { $("#live").textContent = "live"; $("#live").className = "live on"; });
  es.addEventListener("error", () => { $("#live").textContent = "reconnecting…"; $("#live").className = "live off"; });
}

function describe() {
  const name = $("#run-form").elements.scenario.value;
  const sc = scenarios.find((s) => s.name === name);
  $("#scenario-desc").textContent = sc ? `${sc.description} (${sc.seconds}s of load)` : "";
}

setup();
