// coldchain web page: log in, tiles per place (live by SSE over fetch), history chart,
// alert console, QA batch export, deviations with signed decisions. No framework, no inline script (the CSP forbids it); the
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
  if (!response.ok) throw await refusal(response);
  return response.json();
}

// An API refusal as an Error: the message as before ("409 {...}"), plus `status` and
// `detail`, the API's sentence ({"detail": "..."}; a 422's field errors joined), which is
// what the page shows people.
async function refusal(response) {
  const text = await response.text();
  const error = new Error(`${response.status} ${text}`);
  error.status = response.status;
  error.detail = text || `HTTP ${response.status}`;
  try {
    const body = JSON.parse(text);
    if (typeof body.detail === "string") error.detail = body.detail;
    else if (Array.isArray(body.detail)) error.detail = body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  } catch { /* not JSON: the text itself */ }
  return error;
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
  $("deviations-view").classList.add("hidden");
  endSigning();
  forgetDeviations();
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
  $("nav-deviations").classList.toggle("hidden", !canSeeDeviations());
  showView();
  // A failed first live answer (InfluxDB down) must not stop the rest of the page: the
  // stream below retries, and alerts and exports do not need it.
  try { await refreshLive(true); } catch { /* the stream reports and retries */ }
  streamLive();
  refreshAlerts();
  state.timers.push(setInterval(() => refreshLive(true).catch(() => {}), 60000));  // sparklines
  state.timers.push(setInterval(() => refreshAlerts(false), 5000));
  if (canSeeDeviations()) {
    refreshDeviations();
    state.timers.push(setInterval(refreshDeviations, DEVIATION_POLL_MS));
  }
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

// ---- pages: live (tiles, chart, alerts), QA export, deviations -----------------------
function showView() {
  const exporting = location.hash === "#export" && canExport();
  const deviating = location.hash.startsWith("#deviations") && canSeeDeviations();
  $("app-view").classList.toggle("hidden", exporting || deviating);
  $("export-view").classList.toggle("hidden", !exporting);
  $("deviations-view").classList.toggle("hidden", !deviating);
  const views = [["nav-live", !exporting && !deviating], ["nav-export", exporting], ["nav-deviations", deviating]];
  for (const [id, current] of views) {
    if (current) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (exporting) loadExportBatches();
  if (deviating) showDeviations();
  showAuditPanel();
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

function drawLegend(series, names, anyLate, box) {
  box.replaceChildren();
  series.forEach((s, i) => {
    if (!s.points.length) return;
    box.append(el("span", { class: `key sensor s${i % 6}` }), el("span", { class: "sensor-name" }, names[i]));
  });
  if (anyLate) box.append(el("span", { class: "key late" }), el("span", {}, "backfilled (arrived late)"));
}

// The page's charts: a place's history, and a deviation's span (DEVIATION_CHART).
const PLACE_CHART = { svg: "chart", note: "chart-note", sensors: "chart-sensors" };

function drawChart(history, t0, t1, zone, target = PLACE_CHART) {
  const svg = $(target.svg);
  svg.replaceChildren();
  const W = 900, H = 300, L = 48, R = 10, T = 10, B = 26;
  const series = history.series;
  const limits = history.segments.flatMap((s) => s.limits);
  const values = series.flatMap((s) => s.points.flatMap((p) => [p[1], p[2]]))
    .concat(limits.flatMap((l) => [l.min_c, l.max_c]));
  $(target.note).textContent = `${history.resolution} series, buckets of ${Math.round(history.bucket_ms / 60000)} min, times in ${zone}`;
  const names = seriesNames(series);
  drawLegend(series, names, series.some((s) => s.late.length), $(target.sensors));
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
  const canClose = state.me.role === "qa";  // closing is a QA signature; an admin signs nothing
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
// Closing is an electronic signature (`approved`), so it goes through the signing dialog.
function closeAlert(alertId, input) {
  const rootCause = input.value.trim();
  if (!rootCause) { input.focus(); input.placeholder = "a root cause is required"; return; }
  signAs("approved", `the closure of alert ${alertId}, root cause: ${rootCause}`,
    (password, timezone) => postJson(`/v1/alerts/${encodeURIComponent(alertId)}/close`,
      { root_cause: rootCause, password, timezone }),
    () => refreshAlerts(true));
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

// ---- audit trail review (QA, admin: GET /v1/audit) ------------------------------------
// Shown on the QA page to the roles the API lets review the trail; the span defaults to the
// last 7 days, in the browser's local time (sent with its offset, shown in UTC as stored).
const AUDIT_ROLES = ["qa", "admin"];
const AUDIT_DEFAULT_DAYS = 7;

function showAuditPanel() {
  const reviewer = Boolean(state.me) && AUDIT_ROLES.includes(state.me.role);
  $("audit-panel").classList.toggle("hidden", !reviewer);
  if (!reviewer || $("audit-from").value) return;
  const local = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const now = Date.now();
  $("audit-from").value = local(now - AUDIT_DEFAULT_DAYS * 86400000);
  $("audit-to").value = local(now + 60000);
}

async function reviewAudit(event) {
  event.preventDefault();
  $("audit-error").textContent = "";
  const params = new URLSearchParams({
    from: new Date($("audit-from").value).toISOString(),
    to: new Date($("audit-to").value).toISOString(),
    limit: "1000",
  });
  for (const name of ["actor", "batch"]) {
    const value = $(`audit-${name}`).value.trim();
    if (value) params.set(name, value);
  }
  let review;
  try { review = await api(`/v1/audit?${params}`); }
  catch (error) { $("audit-error").textContent = `The trail could not be read: ${error.message}`; return; }
  const rows = $("audit-rows");
  rows.replaceChildren();
  for (const entry of review.entries) {
    const row = el("tr", { "data-seq": entry.seq });
    const cells = [entry.seq, entry.at.slice(0, 19).replace("T", " "), entry.actor, entry.action,
      entry.entity, entry.entity_id, entry.reason || "", entry.changed];
    for (const text of cells) row.append(el("td", {}, String(text)));
    rows.append(row);
  }
  $("audit-status").textContent = `${review.entries.length} entries` +
    (review.truncated ? " (more match: narrow the span)" : "");
}

// ---- electronic signatures: the password again, the meaning stated --------------------
// Every signature (an assessment, a sponsor's decision, an alert closure, a release) is made
// in one dialog that says who signs and what the signature means (Part 11 §11.50), asks for
// the signer's password at that moment (§11.200), and sends the browser's time zone for the
// local time the signature records. A refusal (wrong password, two-person rule, a state
// that changed meanwhile) is shown there as the API's sentence; nothing is signed then.
const signing = { send: null, done: null };

function postJson(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
}

// `send(password, timezone)` makes the signed request; `done(answer)` follows a success.
function signAs(meaning, what, send, done) {
  signing.send = send;
  signing.done = done;
  $("sign-meaning").textContent = `You are signing as ${state.me.name || state.me.user_id}: ${meaning}`;
  $("sign-what").textContent = `What you sign: ${what}.`;
  $("sign-error").textContent = "";
  $("sign-password").value = "";
  $("sign-dialog").showModal();
  $("sign-password").focus();
}

async function submitSignature(event) {
  event.preventDefault();
  const password = $("sign-password").value;
  if (!password || !signing.send) return;
  const done = signing.done;
  $("sign-button").disabled = true;
  let answer;
  try {
    answer = await signing.send(password, browserZone());
  } catch (error) {
    $("sign-password").value = "";
    $("sign-error").textContent = error.detail
      ? `Not signed: ${error.detail}`
      : "Not signed: the server could not be reached. Check the connection and try again.";
    $("sign-password").focus();
    return;
  } finally {
    $("sign-button").disabled = false;
  }
  endSigning();
  if (done) await done(answer);
}

function endSigning() {
  signing.send = null;
  signing.done = null;
  $("sign-password").value = "";
  if ($("sign-dialog").open) $("sign-dialog").close();
}

// ---- deviations and release decisions -------------------------------------------------
// QA opens a deviation from a batch's open findings, assesses its product impact and signs
// (`authored`); the batch's sponsor agrees (`approved`, which closes it) or disputes
// (`rejected`, with a comment); then QA, another person than the assessor, signs the release
// decision once the record's verdict is "no open findings". The API decides who may do what
// (a sponsor's foreign deviation is a 404); the page offers each action to the role that can
// take it and shows every refusal's sentence.
const DEVIATION_ROLES = ["qa", "admin", "sponsor_viewer"];
const DEVIATION_POLL_MS = 15000;  // a sponsor sees a new deviation on their batch this soon
const DEVIATION_CHART = { svg: "deviation-chart", note: "deviation-chart-note", sensors: "deviation-chart-sensors" };
const SPAN_MARGIN_MS = 3600000;  // the chart shows an hour either side: how it began and ended
const DECIDABLE_VERDICT = "no open findings";  // coldchain/catalog/releases.py
const review = { deviations: [], shown: null, batch: null, charts: 0 };

function canSeeDeviations() {
  return Boolean(state.me) && DEVIATION_ROLES.includes(state.me.role);
}

function hasRole(role) {
  return Boolean(state.me) && state.me.role === role;
}

// What waits for the viewer: QA assesses open and disputed deviations; the sponsor decides
// on assessed ones.
function waitsForViewer(deviation) {
  if (hasRole("qa")) return ["open", "disputed"].includes(deviation.state);
  if (hasRole("sponsor_viewer")) return deviation.state === "assessed";
  return false;
}

// The IANA zone of a finding's place ("BSL/FRIDGE-03 (p1)", "SHP-A (p1)"): its own if the
// API gave one, else the zone the live view knows for the place or its site; null if none.
function zoneOf(finding) {
  if (finding.zone) return finding.zone;
  const place = finding.where.split(" ")[0];
  if (state.places.has(place)) return state.places.get(place).timezone;
  return place.includes("/") ? state.zones.get(place.split("/")[0]) || null : null;
}

function deviationZone(deviation) {
  return deviation.findings.map(zoneOf).find(Boolean) || null;
}

// A moment in `zone`, named ("6 Dec 2026, 14:05 CET (Europe/Zurich)"); in UTC, said so, when
// the zone is not known.
const CLOCK = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
const MOMENT = Object.assign({ year: "numeric", month: "short", day: "numeric" }, CLOCK);

function zonedMoment(iso, zone) {
  return `${zonedFormat(zone || "UTC", MOMENT).format(new Date(iso))} (${zone || "UTC"})`;
}

// "5 Dec 2026, 14:02 GMT+1 – 15:02 GMT+1 (Europe/Zurich)": the end's day only when another.
function spanText(start, end, zone) {
  if (!start) return "no time (the record has none for it)";
  if (!end) return `from ${zonedMoment(start, zone)}, ongoing`;
  const named = zone || "UTC";
  const day = zonedFormat(named, { year: "numeric", month: "numeric", day: "numeric" });
  const sameDay = day.format(new Date(start)) === day.format(new Date(end));
  const until = zonedFormat(named, sameDay ? CLOCK : MOMENT).format(new Date(end));
  return `${zonedFormat(named, MOMENT).format(new Date(start))} – ${until} (${named})`;
}

function utcText(iso) {
  return `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

async function showDeviations() {
  await Promise.all([refreshDeviations(), loadReviewBatches()]);
}

function forgetDeviations() {
  Object.assign(review, { deviations: [], shown: null, batch: null });
  review.charts++;  // a chart still loading is not drawn
  for (const id of ["deviation-rows", "deviation-findings", "deviation-history", "deviation-signatures",
    "review-findings", "review-batch", DEVIATION_CHART.svg]) $(id).replaceChildren();
  for (const id of ["deviations-error", "deviation-error", "review-error", "review-verdict", "release-decision"]) {
    $(id).textContent = "";
  }
  $("deviation-detail").classList.add("hidden");
  $("deviations-badge").classList.add("hidden");
}

async function refreshDeviations() {
  if (!state.token || !canSeeDeviations()) return;
  const wanted = $("deviation-filter").value;
  let found;
  try {
    found = await api(`/v1/deviations?limit=200${wanted ? `&state=${wanted}` : ""}`);
  } catch (error) {
    if (state.token) $("deviations-error").textContent = `The deviations could not be loaded: ${error.detail || error.message}`;
    return;
  }
  $("deviations-error").textContent = "";
  review.deviations = found;
  renderDeviations();
  const shown = review.shown && found.find((d) => d.id === review.shown.id);
  if (shown && shown.updated_at !== review.shown.updated_at) renderDeviation(shown);
}

function renderDeviations() {
  const rows = $("deviation-rows");
  rows.replaceChildren();
  if (!review.deviations.length) {
    const row = el("tr");
    row.append(el("td", { colspan: 7, class: "note" }, "No deviation you may see."));
    rows.append(row);
  }
  for (const d of review.deviations) {
    const row = el("tr", { "data-deviation": d.id, class: waitsForViewer(d) ? "waiting" : "" });
    const zone = deviationZone(d);
    row.append(el("td", {}, d.number), el("td", {}, d.batch), el("td", { class: "state" }, d.state),
      el("td", {}, d.title), el("td", {}, zonedMoment(d.opened_at, zone)), el("td", {}, zonedMoment(d.updated_at, zone)));
    const show = el("button", { type: "button", class: "show-deviation" }, "Show");
    show.addEventListener("click", () => openDeviation(d.id));
    const cell = el("td");
    cell.append(show);
    row.append(cell);
    rows.append(row);
  }
  if (!$("deviation-filter").value) {  // the whole list: what waits for the viewer
    const waiting = review.deviations.filter(waitsForViewer).length;
    $("deviations-badge").textContent = String(waiting);
    $("deviations-badge").classList.toggle("hidden", waiting === 0);
  }
}

async function openDeviation(id) {
  $("deviation-error").textContent = "";
  let deviation;
  try {
    deviation = await api(`/v1/deviations/${encodeURIComponent(id)}`);
  } catch (error) {
    $("deviations-error").textContent = `DEV-${id} could not be loaded: ${error.detail || error.message}`;
    return;
  }
  renderDeviation(deviation);
  $("deviation-detail").scrollIntoView({ block: "start" });
  drawDeviationChart(deviation);
  if (review.batch !== deviation.batch) {
    $("review-batch").value = deviation.batch;
    showBatch();
  }
}

function fact(list, name, label, value) {
  list.append(el("dt", {}, label), el("dd", { "data-fact": name }, value === null || value === undefined || value === "" ? "—" : String(value)));
}

function renderDeviation(d) {
  review.shown = d;
  const zone = deviationZone(d);
  const detail = $("deviation-detail");
  detail.classList.remove("hidden");
  detail.setAttribute("data-deviation", d.id);
  $("deviation-heading").textContent = `${d.number} · ${d.batch} · ${d.title}`;
  const facts = $("deviation-facts");
  facts.replaceChildren();
  fact(facts, "state", "State", d.state);
  fact(facts, "opened", "Opened", `${zonedMoment(d.opened_at, zone)} by ${d.opened_by}`);
  fact(facts, "impact", "Impact", d.impact);
  fact(facts, "reason", "Reason", d.reason);
  fact(facts, "stability_reference", "Stability data", d.stability_reference);
  fact(facts, "sponsor_comment", "Sponsor's comment", d.sponsor_comment);
  const findings = $("deviation-findings");
  findings.replaceChildren();
  for (const f of d.findings) {
    const row = el("tr", { "data-finding": f.id });
    row.append(el("td", {}, f.id), el("td", {}, f.kind.replaceAll("_", " ")), el("td", {}, f.where),
      el("td", {}, spanText(f.start, f.end, zoneOf(f))), el("td", {}, f.alert || "—"));
    findings.append(row);
  }
  const history = $("deviation-history");
  history.replaceChildren();
  for (const h of d.history) {
    const signed = h.signature ? ` (signature ${h.signature})` : "";
    history.append(el("li", { "data-state": h.state },
      `${zonedMoment(h.at, zone)}: ${h.state} by ${h.actor}${h.comment ? ` — ${h.comment}` : ""}${signed}`));
  }
  renderSignatures($("deviation-signatures"), d.signatures);
  const assessable = hasRole("qa") && ["open", "disputed"].includes(d.state);
  $("assess-form").classList.toggle("hidden", !assessable);
  $("decide-form").classList.toggle("hidden", !(hasRole("sponsor_viewer") && d.state === "assessed"));
}

function renderSignatures(body, signatures) {
  body.replaceChildren();
  for (const s of signatures) {
    const row = el("tr", { "data-signature": s.id, "data-meaning": s.meaning, "data-signer": s.user_id, "data-valid": s.valid });
    row.append(el("td", {}, `${s.printed_name} (${s.user_id}, ${s.role.replaceAll("_", " ")})`),
      el("td", { class: "meaning" }, s.meaning), el("td", {}, `${s.subject.replaceAll("_", " ")} ${s.subject_id}`),
      el("td", {}, utcText(s.signed_at)), el("td", {}, `${s.local_time.replace("T", " ")} (${s.timezone})`),
      el("td", { class: s.valid ? "valid" : "invalid" }, s.valid ? "✓ valid" : "✗ does not verify"));
    body.append(row);
  }
}

// The readings of the deviation's span, with an hour either side, in the history chart's
// drawing (drawChart), from the batch's history: every place it was in, each for its time.
async function drawDeviationChart(d) {
  const ticket = ++review.charts;
  const starts = d.findings.filter((f) => f.start).map((f) => Date.parse(f.start));
  if (!starts.length) {
    $(DEVIATION_CHART.svg).replaceChildren();
    $(DEVIATION_CHART.note).textContent = "Its findings have no time span to chart.";
    return;
  }
  const ends = d.findings.filter((f) => f.start).map((f) => (f.end ? Date.parse(f.end) : Date.now()));
  const t0 = Math.min(...starts) - SPAN_MARGIN_MS;
  const t1 = Math.min(Math.max(...ends) + SPAN_MARGIN_MS, Date.now());
  const query = new URLSearchParams({ from: new Date(t0).toISOString(), to: new Date(t1).toISOString(), buckets: "300" });
  let history;
  try {
    history = await api(`/v1/batches/${encodeURIComponent(d.batch)}/history?${query}`);
  } catch (error) {
    if (ticket === review.charts) $(DEVIATION_CHART.note).textContent = `The readings could not be loaded: ${error.detail || error.message}`;
    return;
  }
  if (ticket !== review.charts) return;  // another deviation was opened meanwhile
  drawChart(history, t0, t1, deviationZone(d) || "UTC", DEVIATION_CHART);
}

function assessDeviation(event) {
  event.preventDefault();
  const d = review.shown;
  const reason = $("assess-reason").value.trim();
  if (!reason) {
    $("deviation-error").textContent = "An assessment needs its reason.";
    $("assess-reason").focus();
    return;
  }
  $("deviation-error").textContent = "";
  const body = { reason, stability_reference: $("assess-reference").value.trim() || null, impact: $("assess-impact").value };
  signAs("authored", `the product-impact assessment of ${d.number} (${d.batch}), impact ${body.impact}`,
    (password, timezone) => postJson(`/v1/deviations/${d.id}/assess`, Object.assign({}, body, { password, timezone })),
    (answer) => {
      $("assess-reason").value = "";
      $("assess-reference").value = "";
      return deviationSigned(answer);
    });
}

function decideDeviation(agree) {
  const d = review.shown;
  const comment = $("decide-comment").value.trim() || null;
  if (!agree && !comment) {
    $("deviation-error").textContent = "A dispute needs a comment that says what you dispute.";
    $("decide-comment").focus();
    return;
  }
  $("deviation-error").textContent = "";
  const what = `${agree ? "your agreement with" : "your dispute of"} the assessment of ${d.number} (${d.batch})`;
  signAs(agree ? "approved" : "rejected", what,
    (password, timezone) => postJson(`/v1/deviations/${d.id}/${agree ? "agree" : "dispute"}`, { comment, password, timezone }),
    (answer) => {
      $("decide-comment").value = "";
      return deviationSigned(answer);
    });
}

async function deviationSigned(deviation) {
  renderDeviation(deviation);
  await refreshDeviations();
  if (review.batch === deviation.batch) await showBatch();
}

async function loadReviewBatches() {
  let batches;
  try {
    batches = await api("/v1/batches");
  } catch (error) {
    if (state.token) $("review-error").textContent = `The list of batches could not be loaded: ${error.detail || error.message}`;
    return;
  }
  const select = $("review-batch");
  const chosen = select.value || review.batch;
  select.replaceChildren(...batches.map((b) => el("option", { value: b.id }, `${b.id} · ${b.product} · ${b.sponsor}`)));
  if (chosen && batches.some((b) => b.id === chosen)) select.value = chosen;
}

async function showBatch(event) {
  if (event) event.preventDefault();
  const batch = $("review-batch").value;
  $("review-error").textContent = "";
  if (!batch) { $("review-error").textContent = "Choose a batch first."; return; }
  let answer;
  try {
    answer = await api(`/v1/batches/${encodeURIComponent(batch)}/findings`);
  } catch (error) {
    if (state.token) $("review-error").textContent = `The findings of ${batch} could not be loaded: ${error.detail || error.message}`;
    return;
  }
  review.batch = batch;
  renderBatch(answer);
  await showBudget(batch);
}

// ---- the batch's stability budget tile (#22) ---------------------------------------------
// The account of GET /v1/batches/{batch}/budget: how much is consumed, per band, and every
// charge with its source (the readings, a manual time-out-of-refrigeration entry, time
// carried in). A share is null where something is charged and nothing allowed.
const shareText = (share) => (share === null ? "over (none allowed)" : `${Math.round(share * 100)} %`);

async function showBudget(batch) {
  const tile = $("budget-tile");
  let account;
  try {
    account = await api(`/v1/batches/${encodeURIComponent(batch)}/budget`);
  } catch (error) {
    tile.classList.add("hidden");  // an operator's role sees no budget (403), as no record
    if (error.status !== 403 && state.token) {
      $("review-error").textContent = `The budget of ${batch} could not be loaded: ${error.detail || error.message}`;
    }
    return;
  }
  if (review.batch !== batch) return;  // another batch was chosen meanwhile
  tile.classList.remove("hidden");
  const said = $("budget-consumed");
  said.textContent = `${shareText(account.consumed_share)} of the budget consumed` +
    (account.freeze_events_allowed === null ? "" : `; ${account.freeze_events} of ${account.freeze_events_allowed} freeze events`) +
    (account.exceeded ? ` — exceeded: ${account.reasons.join("; ")}` : "");
  said.setAttribute("data-exceeded", String(account.exceeded));
  $("budget-bands").replaceChildren(...account.bands.map((b) => {
    const row = el("tr", { class: b.share === null || b.share >= 1 ? "open" : "" });
    row.append(el("td", {}, `${b.min_c}–${b.max_c} °C`), el("td", {}, `${b.allowed_h} h`),
      el("td", {}, `${b.charged_h.toFixed(2)} h`), el("td", { class: "state" }, shareText(b.share)));
    return row;
  }));
  $("budget-charges").replaceChildren(...account.charges.map((c) => {
    const row = el("tr", { "data-source": c.source });
    const band = c.band === null ? null : account.bands[c.band];
    const when = c.start ? `${utcText(c.start)} to ${c.end ? utcText(c.end) : "…"}` : "—";
    row.append(el("td", {}, c.source.replace("_", " ")),
      el("td", {}, band ? `${band.min_c}–${band.max_c} °C` : "in no band"),
      el("td", {}, when), el("td", {}, c.hours.toFixed(2)), el("td", {}, c.detail));
    return row;
  }));
}

function renderBatch(answer) {
  $("review-verdict").textContent = `${answer.batch}: ${answer.verdict} (the record's automated screen, ` +
    `generated ${utcText(answer.generated_at)}; never a release decision by itself)`;
  $("review-verdict").setAttribute("data-verdict", answer.verdict);
  const qa = hasRole("qa");
  const rows = $("review-findings");
  rows.replaceChildren();
  if (!answer.findings.length) {
    const row = el("tr");
    row.append(el("td", { colspan: 6, class: "note" }, "No findings."));
    rows.append(row);
  }
  for (const f of answer.findings) {
    const row = el("tr", { "data-finding": f.id, class: f.state });
    const pick = el("td");
    if (qa && f.state === "open" && !f.deviation) {
      pick.append(el("input", { type: "checkbox", class: "pick", value: f.id, "aria-label": `cover ${f.id}` }));
    }
    row.append(pick, el("td", {}, f.kind.replaceAll("_", " ")), el("td", {}, f.where),
      el("td", {}, spanText(f.start, f.end, zoneOf(f))), el("td", { class: "state" }, f.state), el("td", {}, f.deviation || "—"));
    rows.append(row);
  }
  $("open-deviation-form").classList.toggle("hidden", !(qa && rows.querySelector("input.pick")));
  renderRelease(answer);
}

function renderRelease(answer) {
  const release = answer.release;
  const said = $("release-decision");
  said.setAttribute("data-decision", release ? release.decision : "");
  if (release) {
    const s = release.signature;
    said.textContent = `${answer.batch} was ${release.decision} by ${s.printed_name} (${release.decided_by}) at ` +
      `${utcText(release.decided_at)} (${s.local_time.replace("T", " ")}, ${s.timezone})` +
      `${release.comment ? `: ${release.comment}` : ""} — signature ${s.valid ? "✓ valid" : "✗ does not verify"}`;
  } else {
    said.textContent = `No release decision on ${answer.batch} yet.`;
  }
  const form = $("release-form");
  form.classList.toggle("hidden", !hasRole("qa") || Boolean(release));
  const decidable = answer.verdict === DECIDABLE_VERDICT;
  $("release-button").disabled = !decidable;
  $("release-why").textContent = decidable ? "" :
    `Not yet: the record's verdict is "${answer.verdict}"; a decision needs every finding cleared by a closed deviation.`;
}

function openNewDeviation(event) {
  event.preventDefault();
  const batch = review.batch;
  const ids = [...document.querySelectorAll("#review-findings input.pick:checked")].map((box) => box.value);
  const title = $("open-deviation-title").value.trim();
  if (!ids.length) { $("review-error").textContent = "Tick the findings the deviation is to cover."; return; }
  if (!title) {
    $("review-error").textContent = "A deviation needs a title that says what happened.";
    $("open-deviation-title").focus();
    return;
  }
  $("open-deviation-button").disabled = true;
  postJson("/v1/deviations", { batch, finding_ids: ids, title })
    .then(async (deviation) => {
      $("open-deviation-title").value = "";
      renderDeviation(deviation);
      drawDeviationChart(deviation);
      await Promise.all([showBatch(), refreshDeviations()]);
    })
    .catch((error) => { $("review-error").textContent = `Not opened: ${error.detail || error.message}`; })
    .finally(() => { $("open-deviation-button").disabled = false; });
}

function releaseBatch(event) {
  event.preventDefault();
  const batch = review.batch;
  const decision = $("release-choice").value;
  const comment = $("release-comment").value.trim() || null;
  signAs(decision === "released" ? "approved" : "rejected", `the release decision on ${batch}: ${decision}`,
    (password, timezone) => postJson(`/v1/batches/${encodeURIComponent(batch)}/release`, { decision, comment, password, timezone }),
    () => {
      $("release-comment").value = "";
      return showBatch();
    });
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("export-form").addEventListener("submit", downloadExport);
  $("export-batch").addEventListener("input", markChosen);
  window.addEventListener("hashchange", () => state.me && showView());
  $("logout").addEventListener("click", endSession);
  $("range").addEventListener("change", () => state.selected && selectPlace(state.selected));
  $("alert-state").addEventListener("change", () => refreshAlerts(true));
  $("audit-form").addEventListener("submit", reviewAudit);
  $("sign-form").addEventListener("submit", submitSignature);
  $("sign-cancel").addEventListener("click", endSigning);
  // Escape closes it too: the password goes (unless the dialog was opened again meanwhile).
  $("sign-dialog").addEventListener("close", () => $("sign-dialog").open || endSigning());
  $("deviation-filter").addEventListener("change", refreshDeviations);
  $("assess-form").addEventListener("submit", assessDeviation);
  $("agree-button").addEventListener("click", () => decideDeviation(true));
  $("dispute-button").addEventListener("click", () => decideDeviation(false));
  $("review-form").addEventListener("submit", showBatch);
  $("open-deviation-form").addEventListener("submit", openNewDeviation);
  $("release-form").addEventListener("submit", releaseBatch);
  const saved = sessionStorage.getItem("token");
  if (saved) start(saved);
});
