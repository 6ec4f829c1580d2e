/**
 * The real-time status page: sign in as an admin, then poll `status/data` every few seconds
 * and draw it. No dependencies; charts are plain SVG. Data is only ever written with
 * textContent, never as HTML.
 */
(function () {
  "use strict";

  const DATA_URL = new URL("status/data", location.href).pathname;
  const AUTH_URL = new URL("../auth/", location.href).pathname;  // /api/v1/auth/
  const KEY = "itcook.status.tokens";
  const MAX_SAMPLES = 300;
  const $ = (id) => document.getElementById(id);

  let tokens = loadTokens();
  let timer = null;
  let paused = false;
  let failures = 0;
  const samples = [];  // [time, websocket, sse], taken by this page on each refresh

  // -- credentials -------------------------------------------------------------------------------

  function loadTokens() {
    // A token in the fragment (#token=...) never reaches a server log; take it and drop it.
    const match = /[#&]token=([^&]+)/.exec(location.hash);
    if (match) {
      history.replaceState(null, "", location.pathname + location.search);
      const fresh = { access: decodeURIComponent(match[1]), refresh: null };
      sessionStorage.setItem(KEY, JSON.stringify(fresh));
      return fresh;
    }
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (err) {
      return null;
    }
  }

  function saveTokens(value) {
    tokens = value;
    if (value) sessionStorage.setItem(KEY, JSON.stringify(value)); else sessionStorage.removeItem(KEY);
  }

  async function login(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const pasted = $("token").value.trim();
    if (pasted) {
      saveTokens({ access: pasted, refresh: null });
    } else {
      const response = await fetch(AUTH_URL + "login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: $("username").value, password: $("password").value }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        $("login-error").textContent = (body.error && body.error.message) || "sign-in failed";
        return;
      }
      saveTokens({ access: body.access_token, refresh: body.refresh_token });
    }
    $("password").value = "";
    $("token").value = "";
    refresh();
  }

  async function renewAccess() {
    if (!tokens || !tokens.refresh) return false;
    const response = await fetch(AUTH_URL + "refresh", {
      method: "POST", headers: { Authorization: "Bearer " + tokens.refresh },
    });
    if (!response.ok) return false;
    const body = await response.json();
    saveTokens({ access: body.access_token, refresh: tokens.refresh });
    return true;
  }

  function signOut(message) {
    saveTokens(null);
    clearTimeout(timer);
    $("dashboard").hidden = true;
    $("login").hidden = false;
    $("logout").hidden = true;
    setPill("not signed in", "");
    $("login-error").textContent = message || "";
  }

  // -- polling -----------------------------------------------------------------------------------

  async function fetchData(retried) {
    const response = await fetch(DATA_URL, {
      headers: { Authorization: "Bearer " + tokens.access }, cache: "no-store",
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 && !retried && (await renewAccess())) return fetchData(true);
    if (!response.ok) {
      const error = new Error((body.error && body.error.message) || "HTTP " + response.status);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  async function refresh() {
    clearTimeout(timer);
    if (!tokens) {
      signOut("");
      return;
    }
    try {
      const data = await fetchData(false);
      failures = 0;
      $("login").hidden = true;
      $("dashboard").hidden = false;
      $("logout").hidden = false;
      $("banner").style.display = "none";
      render(data);
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        signOut(err.status === 403 ? "This account is not an administrator." : "Please sign in again.");
        return;
      }
      failures++;
      // The numbers on screen are stale now: the pill must not say live.
      setPill("offline", "offline");
      $("banner").style.display = "block";
      $("banner").textContent = "Cannot load the statistics (" + err.message + "); retrying…";
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    if (paused || !tokens) return;
    const every = Number($("interval").value);
    timer = setTimeout(refresh, failures ? Math.min(30000, every * 2 ** failures) : every);
  }

  // -- rendering ---------------------------------------------------------------------------------

  function render(data) {
    const byTransport = data.connections_by_transport || {};
    const replays = data.replays || {};
    const handshakes = sum(data.handshake_failures_by_reason);
    setText("connected-total", data.connected_clients);
    setText("connected-websocket", byTransport.websocket || 0);
    setText("connected-sse", byTransport.sse || 0);
    setText("connected-users", data.connected_users || 0);
    setText("events-today", data.events_published_today || 0);
    setText("deliveries-today", data.events_sent_today || 0);
    setText("slow-drops", data.slow_consumer_drops || 0);
    setText("handshake-failures", handshakes);
    setText("replays", (replays.recovered || 0) + " / " + (replays.incomplete || 0));
    setText("uptime", duration(data.uptime_seconds));
    setText("processes-reporting", data.processes_reporting || 1);
    $("broker").textContent = data.broker_connected ? "connected" : "DISCONNECTED";
    $("broker").className = "value small " + (data.broker_connected ? "ok" : "bad");
    setPill(paused ? "paused" : "live", paused ? "" : "live");
    $("updated").textContent = new Date().toLocaleTimeString();

    samples.push([Date.now() / 1000, byTransport.websocket || 0, byTransport.sse || 0]);
    if (samples.length > MAX_SAMPLES) samples.shift();
    const series = data.series || { events: [], deliveries: [] };
    lineChart($("chart-rates"), [
      { points: series.deliveries, color: "var(--ws)" },
      { points: series.events, color: "var(--sse)" },
    ], "/s");
    lineChart($("chart-connections"), [
      { points: samples.map((s) => [s[0], s[1]]), color: "var(--ws)" },
      { points: samples.map((s) => [s[0], s[2]]), color: "var(--sse)" },
    ], "");

    const deliveries = data.deliveries_by_type || {};
    table($("table-event-types"), ["type", "events", "deliveries"],
      entries(data.events_by_type).map(([type, n]) => [type, n, deliveries[type] || 0]));
    barTable($("table-channels"), "channel", data.subscribers_by_channel);
    barTable($("table-disconnects"), "reason", data.disconnects_by_reason);
    barTable($("table-handshake"), "reason", data.handshake_failures_by_reason);
    barTable($("table-errors"), "code", data.errors_by_code);
    table($("table-processes"), ["process", "clients", "uptime", "broker"],
      (data.processes || []).map((p) => [p.process_id, p.connected_clients, duration(p.uptime_seconds),
        p.broker_connected === false ? "down" : "ok"]));
    daysTable($("table-days"), data.events_by_day || {});
  }

  /** The header pill: what the numbers on screen are (``state`` is also its class). */
  function setPill(text, state) {
    $("live-pill").textContent = text;
    $("live-pill").className = "pill" + (state ? " " + state : "");
  }

  function setText(id, value) {
    $(id).textContent = String(value == null ? 0 : value);
  }

  function sum(counts) {
    return Object.values(counts || {}).reduce((a, b) => a + b, 0);
  }

  function entries(counts) {
    return Object.entries(counts || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  }

  function duration(seconds) {
    let s = Math.floor(seconds || 0);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + s + "s";
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function table(node, headers, rows) {
    node.replaceChildren();
    const head = el("tr");
    headers.forEach((h, i) => head.append(el("th", h, i ? "num" : "")));
    node.append(head);
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", "none yet", "empty");
      td.colSpan = headers.length;
      tr.append(td);
      node.append(tr);
    }
    rows.forEach((row) => {
      const tr = el("tr");
      row.forEach((cell, i) => tr.append(el("td", cell, i ? "num" : "")));
      tr.dataset.key = String(row[0]);
      node.append(tr);
    });
  }

  function barTable(node, label, counts) {
    const rows = entries(counts);
    table(node, [label, "count"], rows);
    const top = rows.length ? rows[0][1] : 0;
    Array.from(node.querySelectorAll("tr[data-key]")).forEach((tr, i) => {
      const bar = el("div", null, "bar");
      bar.style.width = (top ? Math.max(2, (100 * rows[i][1]) / top) : 0) + "%";
      tr.firstChild.append(bar);
    });
  }

  function daysTable(node, days) {
    const dates = Object.keys(days).sort().reverse().slice(0, 7);
    const types = Array.from(new Set(dates.flatMap((d) => Object.keys(days[d])))).sort();
    table(node, ["type"].concat(dates), types.map((t) => [t].concat(dates.map((d) => days[d][t] || 0))));
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text != null) node.textContent = text;
    return node;
  }

  /** Lines of [x, y] points on shared axes, with a few grid lines; no library. */
  function lineChart(svg, lines, unit) {
    const width = svg.clientWidth || 600;
    const height = svg.clientHeight || 190;
    const pad = { left: 40, right: 10, top: 10, bottom: 20 };
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.replaceChildren();
    const all = lines.flatMap((l) => l.points);
    if (all.length < 2) {
      svg.append(svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "collecting…"));
      return;
    }
    const xs = all.map((p) => p[0]);
    const x0 = Math.min.apply(null, xs);
    const x1 = Math.max.apply(null, xs);
    const yMax = niceMax(Math.max.apply(null, all.map((p) => p[1])));
    const sx = (x) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
    const sy = (y) => height - pad.bottom - (y / yMax) * (height - pad.top - pad.bottom);
    for (let i = 0; i <= 4; i++) {
      const y = (yMax * i) / 4;
      svg.append(svgEl("line", { x1: pad.left, x2: width - pad.right, y1: sy(y), y2: sy(y),
        stroke: "#e3e6ea" }));
      svg.append(svgEl("text", { x: pad.left - 4, y: sy(y) + 3, "text-anchor": "end" },
        (Math.round(y * 100) / 100) + unit));
    }
    svg.append(svgEl("text", { x: pad.left, y: height - 4 }, ago(x1 - x0)));
    svg.append(svgEl("text", { x: width - pad.right, y: height - 4, "text-anchor": "end" }, "now"));
    lines.forEach((line) => {
      if (!line.points.length) return;
      const d = line.points.map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1));
      svg.append(svgEl("path", { d: d.join(" "), fill: "none", stroke: line.color, "stroke-width": 2,
        "stroke-linejoin": "round" }));
    });
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    const steps = [1, 2, 2.5, 5, 10].map((s) => s * magnitude);
    return steps.find((s) => s >= value) || 10 * magnitude;
  }

  function ago(seconds) {
    return seconds >= 120 ? Math.round(seconds / 60) + " min ago" : Math.round(seconds) + " s ago";
  }

  // -- wiring ------------------------------------------------------------------------------------

  $("login").addEventListener("submit", (event) => { login(event).catch((err) => {
    $("login-error").textContent = String(err.message || err);
  }); });
  $("logout").addEventListener("click", () => signOut(""));
  $("interval").addEventListener("change", () => refresh());
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    // Resuming says nothing until the next fetch answers (live) or fails (offline).
    setPill(paused ? "paused" : "updating…", "");
    if (!paused) refresh(); else clearTimeout(timer);
  });
  if (tokens) refresh(); else signOut("");
})();
