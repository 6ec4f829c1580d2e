/**
 * What the calls and live pages share: catalog text with an English fallback, the demo page's
 * session (sessionStorage, same tab), the login form, token refresh and a REST wrapper that
 * refreshes once on 401. No dependencies; load it before the page script. Defines
 * `window.ITCookPage`.
 */
(function () {
  "use strict";

  const API = "/api/v1";
  const KEY = "itcook.demo.session";
  let current = null;  // {access, refresh, user}

  /** The catalog's text for `key`, or the English `fallback` (before or without the catalogs). */
  function t(key, fallback, values) {
    const i18n = window.ITCookI18n;
    const text = i18n ? i18n.t(key, values) : key;
    if (text !== key) return text;
    return fallback.replace(/\{(\w+)\}/g, (whole, name) => (values && name in values ? String(values[name]) : whole));
  }

  /** The page's language, sent with every request: the server's errors come back in it. */
  function lang() {
    return window.ITCookI18n ? window.ITCookI18n.lang : "en";
  }

  function save() {
    sessionStorage.setItem(KEY, JSON.stringify(current));
  }

  /** The session with an access token and a user (the demo page's or this tab's login), or null. */
  function session() {
    if (!current) {
      try {
        current = JSON.parse(sessionStorage.getItem(KEY) || "null");
      } catch (err) {
        current = null;
      }
    }
    return current && current.access && current.user ? current : null;
  }

  /** An Error with the server's message (else "HTTP <status>") and its `code`. */
  function failure(response, answer) {
    const error = new Error((answer.error && answer.error.message) || "HTTP " + response.status);
    error.code = answer.error && answer.error.code;
    return error;
  }

  /** Logs in and keeps the session for this tab; throws the server's error. */
  async function login(username, password) {
    const response = await fetch(API + "/auth/login", { method: "POST", headers: { "Content-Type": "application/json", "Accept-Language": lang() },
      body: JSON.stringify({ username, password }) });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw failure(response, body);
    current = { access: body.access_token, refresh: body.refresh_token, user: body.user };
    save();
    return current;
  }

  /** A fresh access token through the refresh token, or null. */
  async function refreshAccess() {
    if (!current || !current.refresh) return null;
    const response = await fetch(API + "/auth/refresh", { method: "POST", headers: { Authorization: "Bearer " + current.refresh } });
    if (!response.ok) return null;
    current.access = (await response.json()).access_token;
    save();
    return current.access;
  }

  /** `method` on /api/v1`path` with an optional JSON body; the answer, or throws `failure`. */
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + current.access, "Accept-Language": lang() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const send = () => fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let response = await send();
    if (response.status === 401 && await refreshAccess()) {
      headers.Authorization = "Bearer " + current.access;
      response = await send();
    }
    const answer = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (!response.ok) throw failure(response, answer);
    return answer;
  }

  /**
   * Calls `start(session)` with the tab's session once the catalogs are in, else shows the form
   * `<prefix>-login` (fields `<prefix>-username`, `<prefix>-password`) and starts after its login.
   */
  function boot(prefix, notice, start) {
    const $ = (id) => document.getElementById(id);
    $(prefix + "-login").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await login($(prefix + "-username").value, $(prefix + "-password").value);
      } catch (err) {
        notice(err.message);
        return;
      }
      start(current);
    });
    (window.ITCookI18n ? window.ITCookI18n.ready : Promise.resolve()).then(() => {
      const found = session();
      if (found) start(found); else $(prefix + "-login").hidden = false;
    });
  }

  window.ITCookPage = { t, session, login, refreshAccess, api, boot };
})();
