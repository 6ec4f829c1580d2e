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

  // -- language: English (the page's own text) or Russian --------------------------------------

  /** Texts written by this script; the page's markup carries its own English (data-i18n). */
  const EN = {
    "pill.signed_out": "not signed in", "pill.live": "live", "pill.offline": "offline",
    "pill.paused": "paused", "pill.updating": "updating…", "pause": "Pause", "resume": "Resume",
    "broker.ok": "connected", "broker.down": "DISCONNECTED", "none": "none yet", "collecting": "collecting…",
    "now": "now", "s_ago": "{n} s ago", "min_ago": "{n} min ago", "sign_in_failed": "sign-in failed",
    "not_admin": "This account is not an administrator.", "sign_in_again": "Please sign in again.",
    "cannot_load": "Cannot load the statistics ({error}); retrying…",
    "col.type": "type", "col.events": "events", "col.deliveries": "deliveries", "col.channel": "channel",
    "col.reason": "reason", "col.code": "code", "col.count": "count", "col.process": "process",
    "col.clients": "clients", "col.uptime": "uptime", "col.broker": "broker", "down": "down", "ok": "ok",
  };
  const RU = {
    "title": "IT Cook · состояние real-time", "updated": "обновлено", "every": "каждые", "language": "Язык",
    "interval": "интервал обновления", "sign_out": "Выйти",
    "every.1": "1 с", "every.2": "2 с", "every.5": "5 с", "every.15": "15 с",
    "login.title": "Вход администратора",
    "login.hint": "Цифры только для администраторов. Войдите или вставьте токен доступа.",
    "login.username": "Имя пользователя", "login.password": "Пароль", "login.token": "или токен доступа",
    "login.submit": "Показать состояние",
    "card.connected": "Подключённые клиенты", "card.websocket": "WebSocket", "card.sse": "SSE",
    "card.users": "Пользователей онлайн", "card.events": "Событий сегодня", "card.deliveries": "Доставок сегодня",
    "card.slow": "Отключено медленных", "card.handshake": "Неудачных рукопожатий",
    "card.replays": "Возобновления (полные / неполные)", "card.uptime": "Время работы (этот процесс)",
    "card.processes": "Процессов в отчёте", "card.broker": "Брокер",
    "chart.rates": "События и доставки в секунду · последние 10 минут",
    "chart.connections": "Подключённые клиенты · с открытия страницы",
    "legend.deliveries": "доставок/с", "legend.events": "событий/с",
    "panel.types": "События по типам", "panel.channels": "Подписчики по каналам",
    "panel.disconnects": "Отключения по причинам", "panel.handshake": "Неудачные рукопожатия по причинам",
    "panel.errors": "Кадры Error по кодам", "panel.processes": "Процессы",
    "panel.days": "Аналитика · события по типам и дням (UTC)",
    "pill.signed_out": "вход не выполнен", "pill.live": "в эфире", "pill.offline": "нет связи",
    "pill.paused": "на паузе", "pill.updating": "обновление…", "pause": "Пауза", "resume": "Продолжить",
    "broker.ok": "подключён", "broker.down": "ОТКЛЮЧЁН", "none": "пока нет", "collecting": "собираем данные…",
    "now": "сейчас", "s_ago": "{n} с назад", "min_ago": "{n} мин назад", "sign_in_failed": "войти не удалось",
    "not_admin": "Эта учётная запись не администратор.", "sign_in_again": "Войдите снова.",
    "cannot_load": "Не удаётся загрузить статистику ({error}); повторяем…",
    "col.type": "тип", "col.events": "события", "col.deliveries": "доставки", "col.channel": "канал",
    "col.reason": "причина", "col.code": "код", "col.count": "число", "col.process": "процесс",
    "col.clients": "клиенты", "col.uptime": "время работы", "col.broker": "брокер", "down": "нет", "ok": "да",
  };
  const LANG_KEY = "itcook.lang";  // shared with the app's pages on this origin
  const markupText = new Map();  // element -> its English text, to switch back
  let lang = pickLang();

  function pickLang() {
    let saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (err) { /* storage blocked */ }
    if (saved === "en" || saved === "ru") return saved;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (const tag of langs) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (base === "ru" || base === "en") return base;
    }
    return "en";
  }

  function tr(key, params) {
    const text = (lang === "ru" && RU[key]) || EN[key] || key;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (params && name in params ? String(params[name]) : whole));
  }

  function applyLang() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((node) => {
      if (!markupText.has(node)) markupText.set(node, node.textContent);
      const key = node.getAttribute("data-i18n");
      node.textContent = lang === "ru" && RU[key] ? RU[key] : markupText.get(node);
    });
    document.querySelectorAll("[data-i18n-attr]").forEach((node) => {
      node.getAttribute("data-i18n-attr").split(",").forEach((pair) => {
        const [attr, key] = pair.split(":");
        const keep = "data-en-" + attr;
        if (!node.hasAttribute(keep)) node.setAttribute(keep, node.getAttribute(attr) || "");
        node.setAttribute(attr, lang === "ru" && RU[key] ? RU[key] : node.getAttribute(keep));
      });
    });
    $("lang").value = lang;
    $("pause").textContent = tr(paused ? "resume" : "pause");
  }

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
        $("login-error").textContent = (body.error && body.error.message) || tr("sign_in_failed");
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
    setPill(tr("pill.signed_out"), "");
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
        signOut(tr(err.status === 403 ? "not_admin" : "sign_in_again"));
        return;
      }
      failures++;
      // The numbers on screen are stale now: the pill must not say live.
      setPill(tr("pill.offline"), "offline");
      $("banner").style.display = "block";
      $("banner").textContent = tr("cannot_load", { error: err.message });
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
    $("broker").textContent = tr(data.broker_connected ? "broker.ok" : "broker.down");
    $("broker").className = "value small " + (data.broker_connected ? "ok" : "bad");
    setPill(tr(paused ? "pill.paused" : "pill.live"), paused ? "" : "live");
    $("updated").textContent = new Date().toLocaleTimeString(lang);

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
    ], "", true);

    const deliveries = data.deliveries_by_type || {};
    table($("table-event-types"), [tr("col.type"), tr("col.events"), tr("col.deliveries")],
      entries(data.events_by_type).map(([type, n]) => [type, n, deliveries[type] || 0]));
    barTable($("table-channels"), tr("col.channel"), data.subscribers_by_channel);
    barTable($("table-disconnects"), tr("col.reason"), data.disconnects_by_reason);
    barTable($("table-handshake"), tr("col.reason"), data.handshake_failures_by_reason);
    barTable($("table-errors"), tr("col.code"), data.errors_by_code);
    table($("table-processes"), [tr("col.process"), tr("col.clients"), tr("col.uptime"), tr("col.broker")],
      (data.processes || []).map((p) => [p.process_id, p.connected_clients, duration(p.uptime_seconds),
        tr(p.broker_connected === false ? "down" : "ok")]));
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
      const line = el("tr");
      const td = el("td", tr("none"), "empty");
      td.colSpan = headers.length;
      line.append(td);
      node.append(line);
    }
    rows.forEach((row) => {
      const line = el("tr");
      row.forEach((cell, i) => line.append(el("td", cell, i ? "num" : "")));
      line.dataset.key = String(row[0]);
      node.append(line);
    });
  }

  function barTable(node, label, counts) {
    const rows = entries(counts);
    table(node, [label, tr("col.count")], rows);
    const top = rows.length ? rows[0][1] : 0;
    Array.from(node.querySelectorAll("tr[data-key]")).forEach((line, i) => {
      const bar = el("div", null, "bar");
      bar.style.width = (top ? Math.max(2, (100 * rows[i][1]) / top) : 0) + "%";
      line.firstChild.append(bar);
    });
  }

  function daysTable(node, days) {
    const dates = Object.keys(days).sort().reverse().slice(0, 7);
    const types = Array.from(new Set(dates.flatMap((d) => Object.keys(days[d])))).sort();
    table(node, [tr("col.type")].concat(dates), types.map((t) => [t].concat(dates.map((d) => days[d][t] || 0))));
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text != null) node.textContent = text;
    return node;
  }

  /** Lines of [x, y] points on shared axes, with a few grid lines; no library. `integer`:
   * the values are counts, so every tick is a whole number. */
  function lineChart(svg, lines, unit, integer) {
    const width = svg.clientWidth || 600;
    const height = svg.clientHeight || 190;
    const pad = { left: 40, right: 10, top: 10, bottom: 20 };
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.replaceChildren();
    const all = lines.flatMap((l) => l.points);
    if (all.length < 2) {
      svg.append(svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, tr("collecting")));
      return;
    }
    const xs = all.map((p) => p[0]);
    const x0 = Math.min.apply(null, xs);
    const x1 = Math.max.apply(null, xs);
    const scale = yScale(Math.max.apply(null, all.map((p) => p[1])), integer);
    const yMax = scale.top;
    const sx = (x) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
    const sy = (y) => height - pad.bottom - (y / yMax) * (height - pad.top - pad.bottom);
    for (let y = 0; y <= yMax + scale.step / 2; y += scale.step) {
      svg.append(svgEl("line", { x1: pad.left, x2: width - pad.right, y1: sy(y), y2: sy(y),
        stroke: "#e3e6ea" }));
      svg.append(svgEl("text", { x: pad.left - 4, y: sy(y) + 3, "text-anchor": "end" },
        (Math.round(y * 100) / 100) + unit));
    }
    svg.append(svgEl("text", { x: pad.left, y: height - 4 }, ago(x1 - x0)));
    svg.append(svgEl("text", { x: width - pad.right, y: height - 4, "text-anchor": "end" }, tr("now")));
    lines.forEach((line) => {
      if (!line.points.length) return;
      const d = line.points.map((p, i) => (i ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1));
      svg.append(svgEl("path", { d: d.join(" "), fill: "none", stroke: line.color, "stroke-width": 2,
        "stroke-linejoin": "round" }));
    });
  }

  /** A round tick step giving about four intervals up to `value`, and the axis top (a multiple
   * of it). Counts get whole steps: 1 client is never drawn as 1.25. */
  function yScale(value, integer) {
    const raw = Math.max(value, integer ? 1 : 1e-9) / 4;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const factors = integer && magnitude < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
    let step = factors.map((f) => f * magnitude).find((s) => s >= raw) || 10 * magnitude;
    if (integer) step = Math.max(1, Math.ceil(step));
    if (value <= 0) return { step: integer ? 1 : 0.25, top: 1 };
    return { step, top: step * Math.ceil(value / step - 1e-9) };
  }

  function ago(seconds) {
    return seconds >= 120 ? tr("min_ago", { n: Math.round(seconds / 60) }) : tr("s_ago", { n: Math.round(seconds) });
  }

  // -- wiring ------------------------------------------------------------------------------------

  $("login").addEventListener("submit", (event) => { login(event).catch((err) => {
    $("login-error").textContent = String(err.message || err);
  }); });
  $("logout").addEventListener("click", () => signOut(""));
  $("interval").addEventListener("change", () => refresh());
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = tr(paused ? "resume" : "pause");
    // Resuming says nothing until the next fetch answers (live) or fails (offline).
    setPill(tr(paused ? "pill.paused" : "pill.updating"), "");
    if (!paused) refresh(); else clearTimeout(timer);
  });
  $("lang").addEventListener("change", () => {
    lang = $("lang").value;
    try { localStorage.setItem(LANG_KEY, lang); } catch (err) { /* this page only */ }
    applyLang();
    if (tokens) refresh(); else signOut($("login-error").textContent);
  });
  applyLang();
  if (tokens) refresh(); else signOut("");
})();
