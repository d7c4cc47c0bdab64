// coldchain web page: log in, tiles per place (live by SSE over fetch), history chart,
// alert console, QA batch export. No framework, no inline script (the CSP forbids it); the
// token lives in sessionStorage and travels only in the Authorization header, never in a
// URL (which is why exports are fetched and saved from a blob, not linked).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const state = {
  token: null, me: null, places: new Map(), selected: null, stream: null, timers: [],
  zones: new Map(),       // site id -> IANA zone (from the live answer)
  departures: new Map(),  // shipment id -> when the viewer's goods left (ms), once asked
  charts: 0,              // history requests made; only the latest one is drawn
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, { Authorization: `Bearer ${state.token}` });
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) { logout("Your session has ended; please log in again."); throw new Error("401"); }
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

async function login(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const body = new URLSearchParams({ username: $("username").value, password: $("password").value });
  const response = await fetch("/v1/auth/token", { method: "POST", body });
  if (!response.ok) {
    const retry = response.headers.get("Retry-After");
    $("login-error").textContent = response.status === 429
      ? `Too many attempts; try again in ${retry} s.` : "Incorrect user or password.";
    return;
  }
  const answer = await response.json();
  sessionStorage.setItem("token", answer.access_token);
  $("password").value = "";
  await start(answer.access_token);
}

function logout(message = "") {
  sessionStorage.removeItem("token");
  state.token = null;
  state.me = null;
  if (state.stream) state.stream.abort();
  // Timers of this session stop with it, or a later login would run them twice.
  for (const timer of state.timers.splice(0)) clearInterval(timer);
  $("app-view").classList.add("hidden");
  $("export-view").classList.add("hidden");
  $("nav").classList.add("hidden");
  exportMessage("", "");
  $("logout").classList.add("hidden");
  $("login-view").classList.remove("hidden");
  $("who").textContent = "";
  $("login-error").textContent = message;
  state.departures.clear();  // another viewer may see other placements
}

// The log-out button ends the session on the server too (every login token of the user
// stops working), then forgets it here whatever the answer.
async function endSession() {
  const token = state.token;
  logout();
  if (token) {
    try { await fetch("/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }); }
    catch { /* offline: the token still expires on its own */ }
  }
}

async function start(token) {
  state.token = token;
  try { state.me = await api("/v1/auth/me"); } catch { return; }
  $("who").textContent = `${state.me.user_id} · ${state.me.role.replace("_", " ")}` +
    (state.me.sponsor ? ` · ${state.me.sponsor}` : "");
  $("login-view").classList.add("hidden");
  $("logout").classList.remove("hidden");
  $("nav").classList.remove("hidden");
  $("nav-export").classList.toggle("hidden", !canExport());
  showView();
  // A failed first live answer (InfluxDB down) must not stop the rest of the page: the
  // stream below retries, and alerts and exports do not need it.
  try { await refreshLive(true); } catch { /* the stream reports and retries */ }
  streamLive();
  refreshAlerts();
  state.timers.push(setInterval(() => refreshLive(true).catch(() => {}), 60000));  // sparklines
  state.timers.push(setInterval(() => refreshAlerts(false), 5000));
}

// ---- times, in the place's own zone and named: what the people there read on the clock --
const DATED_AFTER_MS = 20 * 3600000;  // an older time also says which day

function zonedFormat(zone, options) {
  try { return new Intl.DateTimeFormat([], Object.assign({ timeZone: zone }, options)); }
  catch { return new Intl.DateTimeFormat([], Object.assign({ timeZone: "UTC" }, options)); }
}

// "14:05 CET (Europe/Zurich)"; with the day and month when older than DATED_AFTER_MS, and
// the year when it is not this one (an imported logger's alarm may be years old).
function placeTime(ms, zone) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  if (Date.now() - ms > DATED_AFTER_MS) Object.assign(options, { day: "numeric", month: "short" });
  if (new Date(ms).getUTCFullYear() !== new Date().getUTCFullYear()) options.year = "numeric";
  return `${zonedFormat(zone, options).format(new Date(ms))} (${zone})`;
}

function siteTime(site, ms) {
  const zone = state.zones.get(site);
  return zone ? placeTime(ms, zone) : new Date(ms).toLocaleString();
}

// ---- pages: live (tiles, chart, alerts) and QA export --------------------------------
function showView() {
  const exporting = location.hash === "#export" && canExport();
  $("app-view").classList.toggle("hidden", exporting);
  $("export-view").classList.toggle("hidden", !exporting);
  for (const [id, current] of [["nav-live", !exporting], ["nav-export", exporting]]) {
    if (current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (exporting) loadExportBatches();
}

// ---- live tiles -------------------------------------------------------------------
async function refreshLive(withSpark) {
  if (!state.token) return;
  const live = await api(`/v1/live?spark=${withSpark ? "true" : "false"}`);
  applyLive(live, withSpark);
}

function applyLive(live, withSpark) {
  const seen = new Set();
  for (const place of live.places) {
    const old = state.places.get(place.location.id);
    if (!withSpark && old) place.spark = old.spark;
    state.places.set(place.location.id, place);
    state.zones.set(place.location.site, place.timezone);
    seen.add(place.location.id);
  }
  for (const id of [...state.places.keys()]) if (!seen.has(id)) state.places.delete(id);
  renderTiles();
  if (!state.selected && live.places.length) selectPlace(live.places[0].location.id);
}

function placeTemp(place) {
  const values = place.sensors.filter((s) => s.temp_c !== null).map((s) => s.temp_c);
  if (!values.length) return null;
  return Math.max(...values);
}

function renderTiles() {
  const box = $("tiles");
  box.replaceChildren();
  if (!state.places.size) box.append(el("p", { class: "note" }, "Nothing of yours is stored anywhere right now."));
  for (const place of state.places.values()) {
    const tile = el("article", { class: `tile ${place.status}`, "data-place": place.location.id, tabindex: 0 });
    if (place.location.id === state.selected) tile.classList.add("selected");
    const temp = placeTemp(place);
    tile.append(el("div", { class: "name" }, place.location.id));
    tile.append(el("div", { class: "temp", "data-temp": temp === null ? "" : temp.toFixed(1) },
      temp === null ? "—" : `${temp.toFixed(1)} °C`));
    tile.append(el("div", { class: "status" }, place.status.replaceAll("_", " ")));
    // A probe that does not measure (error code, out of its range) shows no temperature: say why.
    const faults = place.sensors.filter((s) => s.fault);
    if (faults.length) {
      tile.append(el("div", { class: "meta fault-note" },
        `probe fault: ${faults.map((s) => `${s.sensor} (${s.fault})`).join(", ")}`));
    }
    const limits = place.limits ? `limits ${place.limits.min_c}–${place.limits.max_c} °C` : "no limits (empty)";
    tile.append(el("div", { class: "meta" }, `${limits} · ${place.batches.join(", ") || "—"}`));
    tile.append(el("div", { class: "meta read" }, readNote(place)));
    if (place.alerts.length) tile.append(el("div", { class: "meta" }, `${place.alerts.length} open alert(s)`));
    tile.append(sparkline(place));
    tile.addEventListener("click", () => selectPlace(place.location.id));
    box.append(tile);
  }
}

// When the place was last heard of. A USB logger records to memory until it is read out at
// arrival: its silence is "awaiting upload" since its last reading or, if none is recent,
// since the goods left (the shipment's placements), not a missing reading.
function readNote(place) {
  const newest = place.sensors.map((s) => s.ts).filter(Boolean).map(Date.parse).sort((a, b) => a - b).pop();
  if (place.sensors.some((s) => s.status === "awaiting_upload")) {
    const departed = departure(place);
    const since = Math.max(newest ?? -Infinity, departed ?? -Infinity);
    return Number.isFinite(since) ? `awaiting upload since ${placeTime(since, place.timezone)}` : "awaiting upload";
  }
  return newest ? `read ${placeTime(newest, place.timezone)}` : "no reading";
}

function departure(place) {
  const id = place.location.id;
  if (place.location.kind !== "shipment") return null;
  if (!state.departures.has(id)) {
    state.departures.set(id, null);  // asked once; the tile says "awaiting upload" until then
    api(`/v1/shipments/${encodeURIComponent(id)}`).then((detail) => {
      const open = detail.placements.filter((p) => !p.end || Date.parse(p.end) > Date.now());
      const starts = open.map((p) => Date.parse(p.start));
      if (starts.length) { state.departures.set(id, Math.min(...starts)); renderTiles(); }
    }).catch(() => { /* no departure known: "awaiting upload" without a time */ });
  }
  return state.departures.get(id);
}

function sparkline(place) {
  const svg = el("svg:svg", { class: "spark", viewBox: "0 0 200 36", preserveAspectRatio: "none" });
  const points = place.spark || [];
  if (points.length < 2) return svg;
  const values = points.map((p) => p[1]);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (place.limits) { lo = Math.min(lo, place.limits.min_c); hi = Math.max(hi, place.limits.max_c); }
  const t0 = points[0][0], t1 = points[points.length - 1][0];
  const x = (t) => ((t - t0) / Math.max(t1 - t0, 1)) * 200;
  const y = (v) => 34 - ((v - lo) / Math.max(hi - lo, 0.1)) * 32;
  svg.append(el("svg:polyline", { points: points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ") }));
  if (place.limits) {
    for (const limit of [place.limits.min_c, place.limits.max_c]) {
      svg.append(el("svg:line", { x1: 0, x2: 200, y1: y(limit), y2: y(limit) }));
    }
  }
  return svg;
}

// Server-Sent Events read through fetch, so the token goes in a header.
async function streamLive() {
  const controller = new AbortController();
  state.stream = controller;
  try {
    const response = await fetch("/v1/live/stream", {
      headers: { Authorization: `Bearer ${state.token}` }, signal: controller.signal,
    });
    if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
    $("conn").classList.add("on");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  } finally {
    $("conn").classList.remove("on");
  }
  if (state.token && !controller.signal.aborted) setTimeout(streamLive, 3000);
}

function handleEvent(block) {
  let name = "message", data = "";
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (name === "live") applyLive(JSON.parse(data), false);
  else if (name === "expired") logout("Your session has ended; please log in again.");
}

// ---- history chart ----------------------------------------------------------------
function historyPath(id) {
  const place = state.places.get(id);
  if (place && place.location.kind === "shipment") return `/v1/shipments/${encodeURIComponent(id)}/history`;
  const [site, unit] = id.split("/");
  return `/v1/sites/${encodeURIComponent(site)}/units/${encodeURIComponent(unit)}/history`;
}

async function selectPlace(id) {
  state.selected = id;
  renderTiles();
  $("chart-title").textContent = `History of ${id}`;
  const hours = Number($("range").value);
  const to = new Date();
  const from = new Date(to.getTime() - hours * 3600000);
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), buckets: "300" });
  const ticket = ++state.charts;
  const history = await api(`${historyPath(id)}?${query}`);
  if (ticket !== state.charts) return;  // a later choice of place or range is drawn instead
  const place = state.places.get(id);
  drawChart(history, from.getTime(), to.getTime(), place ? place.timezone : "UTC");
}

// One colour per sensor (six, then again), named in the legend: "p1", or "LOG-1/p1" when
// the place has several devices.
function seriesNames(series) {
  const devices = new Set(series.map((s) => `${s.site}/${s.source}/${s.device}`));
  return series.map((s) => (devices.size > 1 ? `${s.device}/${s.sensor}` : s.sensor));
}

function drawLegend(series, names, anyLate) {
  const box = $("chart-sensors");
  box.replaceChildren();
  series.forEach((s, i) => {
    if (!s.points.length) return;
    box.append(el("span", { class: `key sensor s${i % 6}` }), el("span", { class: "sensor-name" }, names[i]));
  });
  if (anyLate) box.append(el("span", { class: "key late" }), el("span", {}, "backfilled (arrived late)"));
}

function drawChart(history, t0, t1, zone) {
  const svg = $("chart");
  svg.replaceChildren();
  const W = 900, H = 300, L = 48, R = 10, T = 10, B = 26;
  const series = history.series;
  const limits = history.segments.flatMap((s) => s.limits);
  const values = series.flatMap((s) => s.points.flatMap((p) => [p[1], p[2]]))
    .concat(limits.flatMap((l) => [l.min_c, l.max_c]));
  $("chart-note").textContent = `${history.resolution} series, buckets of ${Math.round(history.bucket_ms / 60000)} min, times in ${zone}`;
  const names = seriesNames(series);
  drawLegend(series, names, series.some((s) => s.late.length));
  if (!values.length) {
    svg.append(el("svg:text", { x: W / 2 - 60, y: H / 2 }, "No readings you may see in this range"));
    return;
  }
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = Math.max((hi - lo) * 0.1, 0.5); lo -= pad; hi += pad;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  svg.append(el("svg:line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  svg.append(el("svg:line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(el("svg:text", { x: 4, y: y(v) + 4 }, `${v.toFixed(1)}°`));
    const t = t0 + ((t1 - t0) * i) / 4;
    const label = zonedFormat(zone, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";  // the ends stay inside
    svg.append(el("svg:text", { x: x(t), y: H - 8, "text-anchor": anchor }, label.format(new Date(t))));
  }
  const width = history.bucket_ms;
  // Backfilled buckets under the lines: a stripe each, named on hover.
  for (const [i, s] of series.entries()) {
    for (const t of s.late) {
      const stripe = el("svg:rect", {
        class: "late", "data-t": t, "data-sensor": names[i], x: x(t), y: T,
        width: Math.max(x(t + width) - x(t), 2), height: H - T - B,
      });
      stripe.append(el("svg:title", {}, `${names[i]}: backfilled (a reading here arrived late)`));
      svg.append(stripe);
    }
  }
  for (const [i, s] of series.entries()) {
    if (!s.points.length) continue;
    const colour = `s${i % 6}`;
    const top = s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[2]).toFixed(1)} ${x(p[0] + width).toFixed(1)},${y(p[2]).toFixed(1)}`);
    const bottom = s.points.slice().reverse().map((p) => `${x(p[0] + width).toFixed(1)},${y(p[1]).toFixed(1)} ${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    svg.append(el("svg:polygon", { class: `band ${colour}`, "data-sensor": names[i], points: top.concat(bottom).join(" ") }));
    svg.append(el("svg:polyline", { class: `mean ${colour}`, "data-sensor": names[i], points: s.points.map((p) => `${x(p[0] + width / 2).toFixed(1)},${y(p[3]).toFixed(1)}`).join(" ") }));
  }
  for (const limit of limits) {
    const a = x(Math.max(Date.parse(limit.start), t0));
    const b = x(Math.min(limit.end ? Date.parse(limit.end) : t1, t1));
    for (const v of [limit.min_c, limit.max_c]) svg.append(el("svg:line", { class: "limit", x1: a, x2: b, y1: y(v), y2: y(v) }));
  }
}

// ---- alert console ----------------------------------------------------------------
async function refreshAlerts(force = false) {
  if (!state.token) return;
  const wanted = $("alert-state").value;
  const alerts = await api(`/v1/alerts?limit=100${wanted ? `&state=${wanted}` : ""}`);
  const rows = $("alert-rows");
  const active = document.activeElement;
  const typing = rows.contains(active) && active.tagName === "INPUT" && active.value;
  if (typing && force !== true) return;  // do not wipe a comment being written
  rows.replaceChildren();
  const canAck = ["warehouse_operator", "admin"].includes(state.me.role);
  const canClose = ["qa", "admin"].includes(state.me.role);
  for (const alert of alerts) {
    const row = el("tr", { class: alert.severity, "data-alert": alert.alert_id });
    row.append(el("td", {}, siteTime(alert.site, Date.parse(alert.start))));
    row.append(el("td", {}, `${alert.site}/${alert.device}/${alert.sensor}`));
    row.append(el("td", {}, alert.kind.replace("_", " ")));
    row.append(el("td", {}, alert.severity));
    row.append(el("td", { class: "state" }, alert.state));
    row.append(el("td", {}, alert.peak_c === null ? "" : `${alert.peak_c.toFixed(1)} °C`));
    const action = el("td");
    if (canAck && alert.state === "open") {
      const comment = el("input", { placeholder: "comment (required)", "aria-label": "comment", class: "ack-comment" });
      const button = el("button", { type: "button", class: "ack" }, "Acknowledge");
      button.addEventListener("click", () => acknowledge(alert.alert_id, comment));
      action.append(comment, button);
    }
    if (canClose && alert.state === "resolved") {
      const cause = el("input", { placeholder: "root cause (required)", "aria-label": "root cause", class: "close-cause" });
      const button = el("button", { type: "button", class: "close" }, "Close");
      button.addEventListener("click", () => closeAlert(alert.alert_id, cause));
      action.append(cause, button);
    }
    row.append(action);
    rows.append(row);
  }
}

async function acknowledge(alertId, input) {
  const comment = input.value.trim();
  if (!comment) { input.focus(); input.placeholder = "a comment is required"; return; }
  await api(`/v1/alerts/${encodeURIComponent(alertId)}/acknowledge`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ comment }),
  });
  input.blur();
  await refreshAlerts(true);
  await refreshLive(false);
}

// QA closes a resolved alert with its root cause: what the batch record counts as explained.
async function closeAlert(alertId, input) {
  const rootCause = input.value.trim();
  if (!rootCause) { input.focus(); input.placeholder = "a root cause is required"; return; }
  await api(`/v1/alerts/${encodeURIComponent(alertId)}/close`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ root_cause: rootCause }),
  });
  input.blur();
  await refreshAlerts(true);
}

// ---- QA export ----------------------------------------------------------------------
// The page offers the export to QA and admins: it is the batch-release step (docs/design.md
// §6, §7). The API also lets a sponsor export their own batches (api/routes/exports.py);
// showing it to them is a decision for the product, made here in one place.
const EXPORT_ROLES = ["qa", "admin"];
const BATCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;  // coldchain.wire.ID_PATTERN
// How each format's signature trailer begins (api/export/signing.py): a file without it
// at its end was cut short, and is not saved.
const SIGNATURE_MARK = { csv: "#coldchain-signature,", json: ',"integrity":{', pdf: "%coldchain-signature " };

function canExport() {
  return Boolean(state.me) && EXPORT_ROLES.includes(state.me.role);
}

function exportMessage(status, error, busy = false) {
  $("export-status").textContent = status;
  $("export-status").classList.toggle("busy", busy);
  $("export-error").textContent = error;
}

async function loadExportBatches() {
  let batches;
  try {
    batches = await api("/v1/batches");
  } catch (error) {
    if (state.token) exportMessage("", `The list of batches could not be loaded (${error.message}); you can still type a batch id.`);
    return;
  }
  const options = $("export-batches");
  const rows = $("export-rows");
  options.replaceChildren();
  rows.replaceChildren();
  if (!batches.length) {
    const row = el("tr");
    row.append(el("td", { colspan: 4, class: "note" }, "No batch you may see."));
    rows.append(row);
  }
  for (const batch of batches) {
    options.append(el("option", { value: batch.id, label: `${batch.product} · ${batch.sponsor}` }));
    const row = el("tr", { "data-batch": batch.id });
    row.append(el("td", {}, batch.id), el("td", {}, batch.product), el("td", {}, batch.sponsor));
    const choose = el("button", { type: "button", class: "choose" }, "Choose");
    choose.addEventListener("click", () => chooseBatch(batch.id));
    const cell = el("td");
    cell.append(choose);
    row.append(cell);
    rows.append(row);
  }
  markChosen();
}

function chooseBatch(id) {
  $("export-batch").value = id;
  markChosen();
  $("export-button").focus();
}

function markChosen() {
  const chosen = $("export-batch").value.trim();
  for (const row of $("export-rows").querySelectorAll("tr[data-batch]")) {
    row.classList.toggle("chosen", row.getAttribute("data-batch") === chosen);
  }
}

async function downloadExport(event) {
  event.preventDefault();
  const batch = $("export-batch").value.trim();
  const format = document.querySelector('input[name="export-format"]:checked').value;
  if (!BATCH_ID.test(batch)) {
    exportMessage("", batch ? `"${batch}" is not a batch id: letters, digits and . _ : - only.` : "Choose a batch first.");
    $("export-batch").focus();
    return;
  }
  const button = $("export-button");
  button.disabled = true;
  exportMessage(`Building the signed ${format.toUpperCase()} record of ${batch}…`, "", true);
  try {
    const saved = await fetchExport(batch, format);
    if (saved) {
      exportMessage(`Saved ${saved.name} (${formatSize(saved.size)}). Its digest and signature are inside: ` +
        `check it with "coldchain verify ${saved.name}".`, "");
    }
  } finally {
    button.disabled = false;
  }
}

// The file is fetched (the token stays in a header) and saved from memory; it is saved
// only when it arrived whole, so nobody files an incomplete record by mistake.
async function fetchExport(batch, format) {
  const path = `/v1/batches/${encodeURIComponent(batch)}/export?format=${format}`;
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  } catch {
    exportMessage("", "The server could not be reached. Nothing was saved; check the connection and try again.");
    return null;
  }
  if (response.status === 401) {
    logout("Your session has ended; please log in again.");
    return null;
  }
  if (!response.ok) {
    exportMessage("", await exportRefusal(response, batch));
    return null;
  }
  let blob;
  try {
    blob = await response.blob();
  } catch {
    exportMessage("", `The export of ${batch} broke off before it was complete (the server stopped sending it). ` +
      "Nothing was saved; try again later, and tell the administrator if it happens again.");
    return null;
  }
  if (!(await endsSigned(blob, format))) {
    exportMessage("", `The export of ${batch} arrived without its signature at the end, so it is incomplete. ` +
      "Nothing was saved; try again.");
    return null;
  }
  const name = attachmentName(response) || `${batch}.${format}`;
  saveBlob(blob, name);
  return { name, size: blob.size };
}

async function exportRefusal(response, batch) {
  let detail = "";
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
  } catch { /* not JSON: the status says enough */ }
  const status = response.status;
  if (status === 404) return `Batch ${batch} was not found, or it is not one you may see. Check the id against the list below.`;
  if (status === 403) return `Your role may not export batch records (${detail || "forbidden"}). Ask QA or an administrator.`;
  if (status === 422 || status === 400) return `The server refused the request for ${batch}: ${detail || "invalid batch id or format"}.`;
  if (status >= 500) {
    return `The server could not build the export (${status}${detail ? `: ${detail}` : ""}). ` +
      "Nothing was saved; try again later, and tell the administrator if it persists.";
  }
  return `The export was refused (${status}${detail ? `: ${detail}` : ""}).`;
}

async function endsSigned(blob, format) {
  const tail = await blob.slice(Math.max(0, blob.size - 4096)).text();
  return tail.includes(SIGNATURE_MARK[format]) && tail.endsWith("\n");
}

function attachmentName(response) {
  const header = response.headers.get("Content-Disposition") || "";
  const found = /filename="([^"\/]+)"/.exec(header);
  return found ? found[1] : null;
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name, class: "hidden" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);  // the download has its copy by then
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("export-form").addEventListener("submit", downloadExport);
  $("export-batch").addEventListener("input", markChosen);
  window.addEventListener("hashchange", () => state.me && showView());
  $("logout").addEventListener("click", endSession);
  $("range").addEventListener("change", () => state.selected && selectPlace(state.selected));
  $("alert-state").addEventListener("change", () => refreshAlerts(true));
  const saved = sessionStorage.getItem("token");
  if (saved) start(saved);
});
