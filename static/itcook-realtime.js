/**
 * IT Cook real-time client for browsers: WebSocket first, Server-Sent Events as the fallback.
 *
 * No dependencies, no build step. Load it with one tag, which defines `window.ITCookRealtime`
 * and `window.ITCookWebSocket`:
 *
 *     <script src="/static/itcook-realtime.js"></script>
 *
 * or import it as an ES module through the thin `itcook-realtime.mjs` beside it:
 *
 *     import { ITCookRealtime } from "/static/itcook-realtime.mjs";
 *
 * The wire protocol is the server's (docs/realtime-protocol.md); this file only speaks it:
 * - credentials: a single-use ticket from `POST /api/v1/realtime/ticket` in `?ticket=` (both
 *   transports), or the WebSocket subprotocols `itcook.v1, bearer.<jwt>`;
 * - resume: `?last_event_id=` with the highest durable id seen; the server replays what was
 *   missed, then sends a `Recovery` frame (`recovered: false` = refetch over REST);
 * - liveness: a `Heartbeat` frame is answered with a `Heartbeat`; a WebSocket that stays silent
 *   for `heartbeatTimeout` ms is treated as dead and replaced;
 * - channels: one the server refuses, or revokes (`Unsubscribed` with `reason: "access_revoked"`,
 *   e.g. a group the user left), is dropped from the list later connections ask for;
 * - Web Push: `enablePush()` / `disablePush()` subscribe this browser through static/sw.js;
 * - calls: `joinCall()` / `startCall()` give a `Call` (WebRTC full mesh signalled by `Signal`
 *   frames); `mesh()` gives the peer logic alone, for any `call_id` (e.g. "live:<id>").
 *
 * Types: itcook-realtime.d.ts. This file must stay valid both as a classic script and as a
 * module (strict, no top-level `this`), since the `.mjs` wrapper imports it.
 */
(function (root) {
  "use strict";

  const PREFIX = "/api/v1/realtime";
  const SUBPROTOCOL = "itcook.v1";
  const DEFAULT_CHANNELS = ["personal", "community", "system"];

  /**
   * Frame types the server may send. EventSource has no catch-all for named events, so it gets a
   * listener per name here, plus one for any other type a page passes to `on()`.
   */
  const SERVER_TYPES = [
    "NewCommunityPost", "PostLiked", "NewComment", "NewFollower", "ExpiringItems", "GoalAchieved",
    "RecipeGenerated", "RecipeFailed", "SystemNotification", "NewGroupPost", "GroupInvitation",
    "NotificationsRead", "UserTyping", "Heartbeat", "Subscribed", "Unsubscribed", "Error", "Recovery",
    "CallStarted", "CallParticipantJoined", "CallParticipantLeft", "CallEnded", "Signal",
  ];

  /** Error codes after which a channel is dropped from the wanted set (retrying cannot help). */
  const CHANNEL_REFUSALS = ["unknown_channel", "forbidden_channel", "channel_not_found"];

  /** Where `enablePush()` registers the Service Worker by default (its scope: /static/). */
  const DEFAULT_SERVICE_WORKER = "/static/sw.js";

  /** Close code the client uses when it gives up on a silent WebSocket (4000-4999: private use). */
  const CLOSE_HEARTBEAT_TIMEOUT = 4000;
  /** The server's "user disabled or deleted": new credentials are needed, never a retry loop. */
  const CLOSE_USER_REVOKED = 4003;
  const CLOSE_GOING_AWAY = 1001;
  const CLOSE_POLICY = 1008;

  const DEFAULTS = {
    url: null,                   // server origin; default: the page's own
    token: null,                 // access token (JWT)
    getToken: null,              // async (info) => fresh token | null
    onAuthError: null,           // (info) => void, once the client gives up on credentials
    onStateChange: null,         // (state, info) => void
    channels: DEFAULT_CHANNELS,
    transports: ["websocket", "sse"],
    auth: "ticket",              // WebSocket credential: "ticket" or "subprotocol"
    lastEventId: null,           // resume point to start from (e.g. kept by the page)
    reconnect: { initialDelay: 500, maxDelay: 30000, factor: 2, jitter: 0.5, minUptime: 5000 },
    fallbackAfter: 2,            // consecutive WebSocket failures before EventSource is used
    retryWebSocketAfter: 60000,  // ms on EventSource before WebSocket is tried again
    heartbeatTimeout: 62500,     // ms of WebSocket silence = dead (2.5 x the server's 25 s)
    connectTimeout: 15000,       // ms for a connection to open
    maxAuthRetries: 3,           // fresh tokens asked in a row before giving up
    pauseWhenHidden: false,      // true, or ms the page must stay hidden before pausing
    typingThrottle: 2000,        // ms between TypingStart frames for one post
    typingIdle: 4000,            // ms without startTyping() after which TypingStop is sent
    WebSocket: undefined,        // implementations, injectable (default: the globals)
    EventSource: undefined,
    fetch: undefined,
    logger: null,                // e.g. console, for debug output
  };

  class AuthError extends Error {
    /** @param {string} code the server's error code (invalid_token, token_expired, ...) */
    constructor(code) {
      super("authentication failed: " + code);
      this.code = code;
    }
  }

  class NetworkError extends Error {}

  /** Why `enablePush()` / `disablePush()` failed; `code` says what a page should tell the user. */
  class PushError extends Error {
    /** @param {string} code @param {string} message @param {*} [cause] */
    constructor(code, message, cause) {
      super(message);
      this.name = "PushError";
      this.code = code;
      this.cause = cause;
    }
  }

  /**
   * A resilient connection to the IT Cook real-time plugin.
   *
   * States: "idle" → "connecting" → "open" ⇄ "reconnecting" → "closed".
   */
  class ITCookRealtime {
    /** @param {Partial<typeof DEFAULTS>} [options] */
    constructor(options) {
      const opts = Object.assign({}, DEFAULTS, options || {});
      opts.reconnect = Object.assign({}, DEFAULTS.reconnect, (options && options.reconnect) || {});
      this.options = opts;
      /** @type {"idle"|"connecting"|"open"|"reconnecting"|"closed"} */
      this.state = "idle";
      /** @type {"websocket"|"sse"|null} */
      this.transport = null;
      /** Highest durable event id received; the resume point. */
      this.lastEventId = opts.lastEventId == null ? null : Number(opts.lastEventId);
      /** Successful connections after the first one. */
      this.reconnects = 0;
      /** Durable events dropped because their id was already seen. */
      this.duplicates = 0;
      this._token = opts.token || null;
      this._channels = new Set(opts.channels);
      this._handlers = new Map();
      this._wanted = false;
      this._paused = null;
      this._generation = 0;
      this._conn = null;
      this._pending = null;
      this._attempt = 0;
      this._opens = 0;
      this._wsFailures = 0;
      this._authFailures = 0;
      this._timer = null;
      this._probeTimer = null;
      this._hiddenTimer = null;
      this._resubscribeTimer = null;
      this._typing = new Map();
      this._listeners = {
        online: () => this._resume("offline"),
        offline: () => this._pause("offline"),
        visibilitychange: () => this._onVisibility(),
      };
    }

    // -- public API ----------------------------------------------------------------------------

    /** Start (or keep) connecting; returns `this`. */
    connect() {
      if (this._wanted) return this;
      this._wanted = true;
      this._attempt = 0;
      this._authFailures = 0;
      this._listen(true);
      if (typeof navigator !== "undefined" && navigator.onLine === false) this._paused = "offline";
      this._setState(this._opens || this._paused ? "reconnecting" : "connecting",
        this._paused ? { reason: this._paused } : {});
      this._open();
      return this;
    }

    /** Close the connection for good (until `connect()` is called again). */
    disconnect() {
      this._wanted = false;
      this._listen(false);
      for (const postId of Array.from(this._typing.keys())) this.stopTyping(postId);
      this._clearTimers();
      this._generation++;
      this._dropPending();
      const conn = this._conn;
      this._conn = null;
      if (conn) this._closeSocket(conn, 1000, "client disconnect");
      this._setState("closed", { reason: "client" });
    }

    /** Use a new access token from now on (e.g. after the page logged in again). */
    setToken(token) {
      this._token = token || null;
      this._authFailures = 0;
    }

    /**
     * Call `handler(data, frame)` for frames of `type` ("*" = every frame but heartbeats).
     * Client events: "open", "close", "statechange", "autherror", "error". Returns an unsubscriber.
     */
    on(type, handler) {
      if (!this._handlers.has(type)) this._handlers.set(type, new Set());
      this._handlers.get(type).add(handler);
      const conn = this._conn;
      if (conn && conn.kind === "sse" && SERVER_TYPES.indexOf(type) < 0 && /^[A-Z]\w*$/.test(type)) {
        this._listenSse(conn, type);  // a type this file does not know yet
      }
      return () => this.off(type, handler);
    }

    /** Remove `handler` for `type`, or every handler of `type` when none is given. */
    off(type, handler) {
      const set = this._handlers.get(type);
      if (!set) return;
      if (handler) set.delete(handler); else set.clear();
    }

    /** The channels this client wants (wire names: personal, community, system, post:<id>). */
    get channels() {
      return Array.from(this._channels);
    }

    /** True while a transport is open. */
    get connected() {
      return this.state === "open";
    }

    /** Join channels: a Subscribe frame on WebSocket, a seamless reconnect on EventSource. */
    subscribe(channels) {
      const added = toList(channels).filter((name) => !this._channels.has(name));
      added.forEach((name) => this._channels.add(name));
      if (added.length) this._channelsChanged("Subscribe", added);
      return this;
    }

    /** Leave channels. */
    unsubscribe(channels) {
      const removed = toList(channels).filter((name) => this._channels.delete(name));
      if (removed.length) this._channelsChanged("Unsubscribe", removed);
      return this;
    }

    /**
     * Tell others on `post:<postId>` that this user is typing: call it on every keystroke.
     * Sends at most one TypingStart per `typingThrottle` ms, and TypingStop after `typingIdle` ms
     * without a call. WebSocket only (EventSource cannot send); returns whether it could.
     */
    startTyping(postId) {
      const id = Number(postId);
      if (!this._canSend()) return false;
      const now = Date.now();
      let entry = this._typing.get(id);
      if (!entry || now - entry.sentAt >= this.options.typingThrottle) {
        this.send({ type: "TypingStart", post_id: id });
        entry = { sentAt: now, timer: entry ? entry.timer : null };
      }
      clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.stopTyping(id), this.options.typingIdle);
      this._typing.set(id, entry);
      return true;
    }

    /** End the typing state on a post (sent only if a start was). */
    stopTyping(postId) {
      const id = Number(postId);
      const entry = this._typing.get(id);
      if (!entry) return false;
      clearTimeout(entry.timer);
      this._typing.delete(id);
      return this._canSend() && this.send({ type: "TypingStop", post_id: id });
    }

    /** Send a raw client frame over the WebSocket; false if none is open. */
    send(frame) {
      if (!this._canSend()) return false;
      this._conn.socket.send(JSON.stringify(frame));
      return true;
    }

    // -- Web Push ------------------------------------------------------------------------------

    /**
     * Subscribe this browser to Web Push and register the subscription with the server: register
     * the Service Worker, fetch the VAPID public key, `pushManager.subscribe()` with it, then POST
     * the subscription's JSON to `/api/v1/push/subscriptions` with this client's token.
     * The browser asks the user for notification permission if needed. Without a token (and no
     * `getToken`) it rejects with the client's AuthError.
     * @param {{serviceWorkerUrl?: string}} [options]
     * @returns {Promise<PushSubscription>}
     * @throws {PushError} `code`: "unsupported", "not_configured", "denied", "unavailable"
     *   (e.g. no push service), "unreachable" or "server"
     */
    async enablePush({ serviceWorkerUrl = DEFAULT_SERVICE_WORKER } = {}) {
      if (!pushSupported()) throw new PushError("unsupported", "this browser has no Web Push");
      const registration = await registerWorker(serviceWorkerUrl, this.options.connectTimeout);
      const keyResponse = await this._rest("GET", "/push/vapid-public-key", undefined, false);
      if (keyResponse.status === 503) throw await pushServerError(keyResponse, "not_configured");
      if (!keyResponse.ok) throw await pushServerError(keyResponse, "server");
      const applicationServerKey = vapidKeyBytes((await keyResponse.json()).public_key);
      let subscription;
      try {
        // A subscription made with another server key cannot be reused: subscribe() would fail.
        const existing = await registration.pushManager.getSubscription();
        if (existing && !sameKey(existing, applicationServerKey)) await existing.unsubscribe();
        subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
      } catch (err) {
        const denied = err && err.name === "NotAllowedError";
        throw new PushError(denied ? "denied" : "unavailable",
          "pushManager.subscribe: " + (err && (err.name + ": " + err.message)), err);
      }
      const saved = await this._rest("POST", "/push/subscriptions", subscription.toJSON());
      if (!saved.ok) throw await pushServerError(saved, "server");
      return subscription;
    }

    /**
     * Unsubscribe this browser from Web Push and tell the server to forget the subscription.
     * @param {{serviceWorkerUrl?: string}} [options]
     * @returns {Promise<boolean>} whether there was a subscription
     * @throws {PushError} "unreachable" or "server" when the server could not be told
     */
    async disablePush({ serviceWorkerUrl = DEFAULT_SERVICE_WORKER } = {}) {
      if (!pushSupported()) return false;
      const registration = await navigator.serviceWorker.getRegistration(serviceWorkerUrl);
      const subscription = registration ? await registration.pushManager.getSubscription() : null;
      if (!subscription) return false;
      const endpoint = subscription.endpoint;
      await subscription.unsubscribe();  // the browser first: nothing is shown from here on
      const response = await this._rest("DELETE", "/push/subscriptions", { endpoint });
      if (!response.ok) throw await pushServerError(response, "server");
      return true;
    }

    // -- calls (WebRTC) --------------------------------------------------------------------------

    /**
     * Join call `callId` (SPEC §5 "Calls"): take the camera and microphone (`options.localStream`,
     * or getUserMedia with `options.constraints`), POST /calls/<id>/join, then connect to every
     * other participant. Signals go over this client's WebSocket, which must be connected.
     * @returns {Promise<Call>}
     * @throws {CallError} the server's code (call_full, forbidden, not_found, ...) or "unreachable"
     */
    async joinCall(callId, options = {}) {
      const call = new Call(this, callId, await this._callOptions(options));
      return call._join();
    }

    /** Start a call in group `groupId` and join it; the group's live call is joined if it has one. */
    async startCall(groupId, options = {}) {
      const o = await this._callOptions(options);
      let callId;
      try {
        callId = (await o.api("POST", "/groups/" + encodeURIComponent(groupId) + "/calls")).id;
      } catch (err) {
        callId = err instanceof CallError && err.status === 409 ? liveCallId(err.body) : null;
        if (!callId) throw err;
      }
      return this.joinCall(callId, o);
    }

    /**
     * The peers of any `call_id` on this client, without the REST side: e.g. "live:<id>" with
     * `direction: "sendonly"` (the host) or `"recvonly"` (a viewer). Pass `rtcConfig` (or call
     * `configure()` later), then `connect(userId)` each remote user.
     * @returns {Mesh}
     */
    mesh(callId, options = {}) {
      const userId = options.userId != null ? options.userId : tokenUserId(this._token);
      if (!userId) throw new CallError("missing_user", "mesh() needs options.userId");
      return new Mesh(this, callId, Object.assign({}, options, { userId }));
    }

    async _callOptions(options) {
      if (this.options.transports.indexOf("websocket") < 0 || (this.state === "open" && this.transport !== "websocket")) {
        // EventSource cannot send: offers and answers would never leave this page.
        throw new CallError("websocket_required", "calls need the WebSocket transport (signals are client frames)");
      }
      const o = Object.assign({}, options);
      if (!o.api) o.api = (method, path, body, init) => this._callApi(method, path, body, init);
      if (o.userId == null) {
        try {
          o.userId = tokenUserId(await this._token_());
        } catch (err) {
          o.userId = null;
        }
      }
      if (!o.userId) throw new CallError("missing_user", "joinCall needs options.userId (or a token naming the user)");
      return o;
    }

    /** A JSON REST call under /api/v1 for the call API; errors become CallError. */
    async _callApi(method, path, body, init) {
      let response;
      try {
        response = await this._rest(method, path, body, true, init);
      } catch (err) {
        throw new CallError("unreachable", "cannot reach the server: " + (err && err.message));
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        const error = data.error || {};
        throw new CallError(error.code || "http_" + response.status, error.message || "HTTP " + response.status,
          response.status, data);
      }
      return data;
    }

    /**
     * A REST call under /api/v1, with this client's token when `authorized`; after a 401 it asks
     * `getToken` once for a fresh token and tries again.
     * @returns {Promise<Response>}
     */
    async _rest(method, path, body, authorized = true, init = {}) {
      const doFetch = this._impl("fetch");
      const send = async (token) => {
        const headers = {};
        if (token) headers.Authorization = "Bearer " + token;
        if (body !== undefined) headers["Content-Type"] = "application/json";
        try {
          return await doFetch.call(root, this._base() + "/api/v1" + path, Object.assign({
            method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
          }, init));
        } catch (err) {
          throw new PushError("unreachable", "cannot reach the server: " + (err && err.message), err);
        }
      };
      const response = await send(authorized ? await this._token_() : null);
      if (response.status !== 401 || !authorized || !this.options.getToken) return response;
      const fresh = await this.options.getToken({ reason: "auth", code: "token_expired" });
      if (!fresh) return response;
      this._token = fresh;
      return send(fresh);
    }

    // -- connecting ----------------------------------------------------------------------------

    _impl(name) {
      const given = this.options[name];
      if (given !== undefined) return given;
      return typeof root[name] === "function" ? root[name] : null;
    }

    _base() {
      if (this.options.url) return String(this.options.url).replace(/\/+$/, "");
      if (typeof location !== "undefined") return location.origin;
      throw new Error("ITCookRealtime: pass options.url outside a browser page");
    }

    _pickTransport() {
      const wanted = this.options.transports;
      const ws = wanted.indexOf("websocket") >= 0 && this._impl("WebSocket");
      const sse = wanted.indexOf("sse") >= 0 && this._impl("EventSource");
      if (ws && (!sse || this._wsFailures < this.options.fallbackAfter)) return "websocket";
      if (sse) return "sse";
      return null;
    }

    async _open() {
      if (!this._wanted || this._paused || this._conn || this._pending) return;
      clearTimeout(this._timer);
      this._timer = null;
      const gen = ++this._generation;
      const kind = this._pickTransport();
      if (!kind) {
        this._wanted = false;
        this._setState("closed", { reason: "unsupported" });
        this._emit("error", { code: "unsupported", message: "neither WebSocket nor EventSource" });
        return;
      }
      this._pending = { gen };
      let credential;
      try {
        credential = await this._credential(kind);
      } catch (err) {
        if (gen !== this._generation) return;
        this._pending = null;
        if (err instanceof AuthError) this._authFailure(err.code);
        else this._retryLater({ reason: "unreachable", error: String(err && err.message) });
        return;
      }
      if (gen !== this._generation) return;
      this._pending = null;
      this._conn = this._start(kind, credential, gen, this.lastEventId);
    }

    async _token_() {
      if (this._token) return this._token;
      const getToken = this.options.getToken;
      const token = getToken ? await getToken({ reason: "connect" }) : null;
      if (!token) throw new AuthError("missing_token");
      this._token = token;
      return token;
    }

    async _credential(kind) {
      if (kind === "websocket" && this.options.auth === "subprotocol") {
        return { protocols: [SUBPROTOCOL, "bearer." + (await this._token_())] };
      }
      return { ticket: await this._ticket() };
    }

    async _ticket() {
      const token = await this._token_();
      const doFetch = this._impl("fetch");
      let response;
      try {
        response = await doFetch.call(root, this._base() + PREFIX + "/ticket", {
          method: "POST", headers: { Authorization: "Bearer " + token }, cache: "no-store",
        });
      } catch (err) {
        throw new NetworkError("cannot reach the server: " + (err && err.message));
      }
      const body = await response.json().catch(() => ({}));
      if (response.status === 401 || response.status === 422) {
        throw new AuthError((body.error && body.error.code) || "unauthorized");
      }
      if (!response.ok || !body.ticket) throw new NetworkError("ticket: HTTP " + response.status);
      return body.ticket;
    }

    _url(kind, credential, afterId) {
      const params = [["channels", this.channels.join(",")]];
      if (credential.ticket) params.push(["ticket", credential.ticket]);
      if (afterId != null) params.push(["last_event_id", String(afterId)]);
      const query = params.map((p) => p[0] + "=" + encodeURIComponent(p[1])).join("&");
      const base = kind === "websocket" ? this._base().replace(/^http/, "ws") : this._base();
      return base + PREFIX + (kind === "websocket" ? "/ws?" : "/sse?") + query;
    }

    /** Open one transport; its callbacks act only while it is `this._conn` (or promotable). */
    _start(kind, credential, gen, afterId) {
      const conn = { kind, gen, socket: null, opened: false, openedAt: 0, gotFrame: false,
        channels: this.channels, watchdog: null, stable: null, connectTimer: null, onOpen: null };
      const url = this._url(kind, credential, afterId);
      this._log("opening", kind, url.replace(/ticket=[^&]+/, "ticket=…"));
      if (kind === "websocket") {
        const Impl = this._impl("WebSocket");
        const ws = credential.protocols ? new Impl(url, credential.protocols) : new Impl(url);
        conn.socket = ws;
        ws.onopen = () => this._opened(conn);
        ws.onmessage = (e) => this._message(conn, e.data);
        ws.onerror = () => {};  // a close event always follows
      } else {
        const Impl = this._impl("EventSource");
        const es = new Impl(url);
        conn.socket = es;
        es.onopen = () => this._opened(conn);
        es.onmessage = (e) => this._message(conn, e.data);
        SERVER_TYPES.forEach((type) => this._listenSse(conn, type));
        this._handlers.forEach((_, type) => {
          if (SERVER_TYPES.indexOf(type) < 0 && /^[A-Z]\w*$/.test(type)) this._listenSse(conn, type);
        });
      }
      this._watchClose(conn);
      conn.connectTimer = setTimeout(() => this._closed(conn, null, "connect timeout"),
        this.options.connectTimeout);
      return conn;
    }

    /** Route the end of `conn` to `_closed`. */
    _watchClose(conn) {
      if (conn.kind === "websocket") {
        conn.socket.onclose = (e) => this._closed(conn, e.code, e.reason);
      } else {
        // EventSource would retry by itself with the spent ticket: take over instead.
        conn.socket.onerror = () => this._closed(conn, conn.opened ? 1006 : null, "");
      }
    }

    _listenSse(conn, type) {
      conn.socket.addEventListener(type, (e) => this._message(conn, e.data));
    }

    /** `conn` is open; `switched` when it replaced a working one (a hand-over, not a reconnect). */
    _opened(conn, switched) {
      clearTimeout(conn.connectTimer);
      if (conn.onOpen) {
        conn.onOpen(conn);  // a hand-over: the new connection replaces the old one
        return;
      }
      if (conn !== this._conn) return;
      conn.opened = true;
      conn.openedAt = Date.now();
      if (!switched && this._opens++ > 0) this.reconnects++;
      this.transport = conn.kind;
      this._authFailures = 0;
      if (conn.kind === "websocket") this._wsFailures = 0;
      conn.stable = setTimeout(() => { this._attempt = 0; }, this.options.reconnect.minUptime);
      this._armWatchdog(conn);
      // On EventSource while WebSocket is wanted: a fallback, and WebSocket is tried again later.
      const fallback = conn.kind === "sse" && this._wantsWebSocketBack();
      if (fallback) this._scheduleProbe();
      this._setState("open", fallback
        ? { fallback: true, retryWebSocketAt: Date.now() + this.options.retryWebSocketAfter } : {});
      this._emit("open", { transport: conn.kind, reconnects: this.reconnects });
      // Channels changed while this connection was being opened.
      const wanted = this.channels;
      const added = wanted.filter((name) => conn.channels.indexOf(name) < 0);
      const removed = conn.channels.filter((name) => wanted.indexOf(name) < 0);
      if (added.length) this._channelsChanged("Subscribe", added);
      if (removed.length) this._channelsChanged("Unsubscribe", removed);
    }

    _message(conn, text) {
      if (conn !== this._conn) return;
      conn.gotFrame = true;
      this._armWatchdog(conn);
      let frame;
      try {
        frame = JSON.parse(text);
      } catch (err) {
        this._emit("error", { code: "invalid_frame", message: "a frame that is not JSON" });
        return;
      }
      if (!frame || typeof frame.type !== "string") return;
      if (frame.type === "Heartbeat") {
        if (conn.kind === "websocket") this.send({ type: "Heartbeat" });
        this._emit("Heartbeat", frame.data || {}, frame);
        return;
      }
      if (typeof frame.id === "number") {
        if (this.lastEventId != null && frame.id <= this.lastEventId) {
          this.duplicates++;
          return;
        }
        this.lastEventId = frame.id;
      }
      const data = frame.data || {};
      if (frame.type === "Recovery" && data.recovered === false) {
        // The log could not fill the gap (pruned, or a different database whose ids may be
        // lower than ours): forget the old floor so new events are not taken for duplicates.
        this.lastEventId = null;
      }
      if (frame.type === "Error" && data.channel && CHANNEL_REFUSALS.indexOf(data.code) >= 0) {
        this._forget([data.channel]);  // asking again would be refused again
      }
      if (frame.type === "Unsubscribed" && data.reason) {  // access_revoked, channel_not_found
        // Access to a group is gone: a reconnect naming it in ?channels= would be refused (403).
        this._forget(toList(data.channels || []));
      }
      this._emit(frame.type, data, frame);
      this._emit("*", data, frame);
    }

    /** Drop channels the server refused or revoked, from the wanted set and the open streams'
     * channel lists (which a refused EventSource hand-over falls back to). */
    _forget(names) {
      names.forEach((name) => this._channels.delete(name));
      [this._conn, this._pending && this._pending.conn].forEach((conn) => {
        if (conn) conn.channels = conn.channels.filter((name) => names.indexOf(name) < 0);
      });
    }

    _closed(conn, code, reason) {
      if (conn !== this._conn) return;
      this._conn = null;
      this._dropPending();  // a hand-over in progress replaced a connection that is gone
      this._release(conn);
      this._closeSocket(conn, code === CLOSE_HEARTBEAT_TIMEOUT ? code : 1000, reason || "");
      const wasOpen = conn.opened;
      this._emit("close", { code, reason, transport: conn.kind, wasOpen });
      if (!this._wanted) return;
      if (conn.kind === "websocket" && this._wsFailed(conn, code)) this._wsFailures++;
      if (code === CLOSE_USER_REVOKED) {
        this._authFailure("user_revoked");
      } else if (conn.kind === "websocket" && !wasOpen && this.options.auth === "subprotocol") {
        // A refused handshake looks like any network error; ask the ticket route why.
        this._checkCredentials();
      } else {
        this._retryLater({ code, reason, fast: code === CLOSE_GOING_AWAY, slow: code === CLOSE_POLICY });
      }
    }

    /** A WebSocket that never opened, or died at once without a word, may be blocked. */
    _wsFailed(conn, code) {
      if (!conn.opened) return true;
      return code === 1006 && !conn.gotFrame && Date.now() - conn.openedAt < 2000;
    }

    async _checkCredentials() {
      const gen = this._generation;
      try {
        await this._ticket();
      } catch (err) {
        if (gen !== this._generation || !this._wanted) return;
        if (err instanceof AuthError) {
          this._authFailure(err.code);
          return;
        }
      }
      if (gen === this._generation) this._retryLater({ reason: "handshake failed" });
    }

    async _authFailure(code) {
      this._authFailures++;
      const failed = this._token;
      this._token = null;
      const gen = ++this._generation;
      let fresh = null;
      if (this.options.getToken && this._authFailures <= this.options.maxAuthRetries) {
        this._setState("reconnecting", { reason: "auth", code });
        try {
          fresh = await this.options.getToken({ reason: "auth", code });
        } catch (err) {
          fresh = null;
        }
      }
      if (gen !== this._generation || !this._wanted) return;
      if (fresh && fresh !== failed) {
        this._token = fresh;
        this._retryLater({ reason: "auth", code });
        return;
      }
      // No usable credential: stop here instead of hammering the server.
      this._wanted = false;
      this._listen(false);
      this._clearTimers();
      this._setState("closed", { reason: "auth", code });
      this._emit("autherror", { code });
      if (this.options.onAuthError) this.options.onAuthError({ code });
    }

    _retryLater(info) {
      if (!this._wanted) return;
      clearTimeout(this._timer);
      if (this._paused) {
        this._setState("reconnecting", Object.assign({}, info, { reason: this._paused }));
        return;
      }
      const r = this.options.reconnect;
      if (info.slow) this._attempt += 2;
      const ceiling = info.fast ? r.initialDelay
        : Math.min(r.maxDelay, r.initialDelay * Math.pow(r.factor, this._attempt));
      this._attempt++;
      // Jitter spreads the reconnects of many clients after a restart.
      const delay = Math.round(ceiling * (1 - r.jitter * Math.random()));
      this._setState("reconnecting", Object.assign({}, info,
        { delay, retryAt: Date.now() + delay, attempt: this._attempt }));
      this._timer = setTimeout(() => { this._timer = null; this._open(); }, delay);
    }

    // -- hand-over: back to WebSocket, and new channels on EventSource ----------------------------

    _wantsWebSocketBack() {
      return this.options.transports.indexOf("websocket") >= 0 && !!this._impl("WebSocket");
    }

    _scheduleProbe() {
      clearTimeout(this._probeTimer);
      this._probeTimer = setTimeout(() => {
        this._probeTimer = null;
        this._handover("websocket");
      }, this.options.retryWebSocketAfter);
    }

    /** Open a new connection beside the current one and switch when it opens: no gap. */
    async _handover(kind) {
      const old = this._conn;
      if (!old || !old.opened || this._pending) return;
      const gen = this._generation;
      let credential;
      try {
        credential = await this._credential(kind);
      } catch (err) {
        if (kind === "websocket" && this._conn === old) this._scheduleProbe();
        return;
      }
      if (gen !== this._generation || this._conn !== old) return;
      const next = this._start(kind, credential, gen, this.lastEventId);
      this._pending = { gen, conn: next };
      next.onOpen = () => {
        next.onOpen = null;
        if (this._pending && this._pending.conn === next) this._pending = null;
        if (this._conn !== old) {
          this._closeSocket(next, 1000, "");
          return;
        }
        this._release(old);
        this._closeSocket(old, 1000, "replaced");
        this._watchClose(next);
        this._conn = next;
        this._opened(next, true);
      };
      const failed = () => {
        if (!this._pending || this._pending.conn !== next) return;
        this._pending = null;
        this._release(next);
        this._closeSocket(next, 1000, "");
        if (kind === "websocket") {
          this._wsFailures = Math.max(this._wsFailures, this.options.fallbackAfter);
          if (this._conn === old) this._scheduleProbe();
        } else if (this._conn === old) {
          // The server refused the new channel list (e.g. a post that no longer exists): keep
          // the working stream and its channels, or every later reconnect would be refused too.
          const refused = this.channels.filter((name) => old.channels.indexOf(name) < 0);
          this._channels = new Set(old.channels);
          this._emit("error", { code: "subscribe_failed", message: "channels refused: " + refused.join(", ") });
        }
      };
      if (kind === "websocket") next.socket.onclose = failed;
      else next.socket.onerror = failed;
      clearTimeout(next.connectTimer);
      next.connectTimer = setTimeout(failed, this.options.connectTimeout);
    }

    _channelsChanged(frameType, names) {
      const conn = this._conn;
      if (!conn || !conn.opened) return;
      if (conn.kind === "websocket") {
        this.send({ type: frameType, channels: names });
        return;
      }
      // EventSource chooses its channels in the URL: reconnect once for a burst of changes.
      clearTimeout(this._resubscribeTimer);
      this._resubscribeTimer = setTimeout(() => this._handover("sse"), 50);
    }

    // -- liveness, pausing ---------------------------------------------------------------------

    _armWatchdog(conn) {
      clearTimeout(conn.watchdog);
      const timeout = this.options.heartbeatTimeout;
      if (conn.kind !== "websocket" || !timeout) return;
      conn.watchdog = setTimeout(() => {
        this._log("no frame for", timeout, "ms: the connection is dead");
        this._closed(conn, CLOSE_HEARTBEAT_TIMEOUT, "heartbeat timeout");
      }, timeout);
    }

    _listen(on) {
      if (typeof window === "undefined" || !window.addEventListener) return;
      const method = on ? "addEventListener" : "removeEventListener";
      window[method]("online", this._listeners.online);
      window[method]("offline", this._listeners.offline);
      if (this.options.pauseWhenHidden && typeof document !== "undefined") {
        document[method]("visibilitychange", this._listeners.visibilitychange);
      }
    }

    _onVisibility() {
      clearTimeout(this._hiddenTimer);
      if (document.visibilityState !== "hidden") {
        this._resume("hidden");
        return;
      }
      const wait = this.options.pauseWhenHidden === true ? 0 : Number(this.options.pauseWhenHidden);
      this._hiddenTimer = setTimeout(() => this._pause("hidden"), wait);
    }

    _pause(reason) {
      if (!this._wanted || this._paused === "offline") return;
      this._paused = reason;
      clearTimeout(this._timer);
      clearTimeout(this._probeTimer);
      this._generation++;
      this._dropPending();
      const conn = this._conn;
      this._conn = null;
      if (conn) {
        this._release(conn);
        this._closeSocket(conn, 1000, reason);
      }
      this._setState("reconnecting", { reason });
    }

    _resume(reason) {
      if (this._paused !== reason) return;
      this._paused = null;
      if (!this._wanted) return;
      this._attempt = 0;
      this._open();
    }

    // -- plumbing ------------------------------------------------------------------------------

    _canSend() {
      const conn = this._conn;
      return !!conn && conn.opened && conn.kind === "websocket" && conn.socket.readyState === 1;
    }

    _release(conn) {
      clearTimeout(conn.watchdog);
      clearTimeout(conn.stable);
      clearTimeout(conn.connectTimer);
    }

    _closeSocket(conn, code, reason) {
      const socket = conn.socket;
      if (!socket) return;
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null;
      try {
        if (conn.kind === "websocket") socket.close(code, reason); else socket.close();
      } catch (err) {
        /* already closed */
      }
    }

    _dropPending() {
      const pending = this._pending;
      this._pending = null;
      if (pending && pending.conn) {
        this._release(pending.conn);
        this._closeSocket(pending.conn, 1000, "");
      }
    }

    _clearTimers() {
      [this._timer, this._probeTimer, this._hiddenTimer, this._resubscribeTimer].forEach(clearTimeout);
      this._timer = this._probeTimer = this._hiddenTimer = this._resubscribeTimer = null;
    }

    _setState(state, info) {
      const full = Object.assign({ transport: state === "open" ? this.transport : null,
        reconnects: this.reconnects }, info);
      this.state = state;
      if (state !== "open") this.transport = null;
      this._log("state", state, full);
      if (this.options.onStateChange) {
        try {
          this.options.onStateChange(state, full);
        } catch (err) {
          reportError(err);
        }
      }
      this._emit("statechange", Object.assign({ state }, full));
    }

    _emit(type, data, frame) {
      const set = this._handlers.get(type);
      if (!set) return;
      Array.from(set).forEach((handler) => {
        try {
          handler(data, frame);
        } catch (err) {
          reportError(err);  // one failing handler must not starve the others
        }
      });
    }

    _log() {
      const logger = this.options.logger;
      if (logger) logger.debug.apply(logger, ["[itcook-realtime]"].concat(Array.from(arguments)));
    }
  }

  /**
   * The seed's client shape: `new ITCookWebSocket(token).connect()`, with overridable handler
   * methods. It is an `ITCookRealtime`, so it also falls back, resumes and reconnects.
   */
  class ITCookWebSocket extends ITCookRealtime {
    /** @param {string} token access token; @param {object} [options] as for ITCookRealtime */
    constructor(token, options) {
      super(Object.assign({}, options || {}, { token }));
      this.on("*", (data, frame) => this.handleEvent(frame));
    }

    /** Route one frame to its handler method. */
    handleEvent(event) {
      const data = event.data || {};
      switch (event.type) {
        case "NewCommunityPost": this.onNewPost(data); break;
        case "PostLiked": this.onPostLiked(data); break;
        case "NewComment": this.onNewComment(data); break;
        case "NewFollower": this.onNewFollower(data); break;
        case "ExpiringItems": this.onExpiringItems(data); break;
        case "GoalAchieved": this.onGoalAchieved(data); break;
        case "RecipeGenerated": this.onRecipeGenerated(data); break;
        case "SystemNotification": this.onSystemNotification(data); break;
        case "UserTyping": this.onUserTyping(data); break;
        default: break;
      }
    }

    onNewPost(data) { this.showNotification("New post", data.author_name + ": " + data.content); }
    onPostLiked(data) { this.showNotification("Like", data.user_name + " liked your post"); }
    onNewComment(data) { this.showNotification("New comment", data.author_name + ": " + data.content); }
    onNewFollower(data) { this.showNotification("New follower", data.follower_name + " follows you"); }
    onExpiringItems(data) {
      this.showNotification("Fridge", data.items.length + " item(s) expire within " + data.days + " day(s)");
    }
    onGoalAchieved(data) { this.showNotification("Goal achieved!", data.title); }
    onRecipeGenerated(data) { this.showNotification("Recipe ready", data.title); }
    onSystemNotification(data) { this.showNotification(data.title, data.message); }
    onUserTyping(data) {}

    /** Show a notification (the browser's, when permitted); override it for toasts. */
    showNotification(title, message) {
      if (typeof Notification !== "undefined" && Notification.permission === "granted") {
        new Notification(title, { body: message });  // eslint-disable-line no-new
      }
      if (typeof console !== "undefined") console.log("🔔 " + title + ": " + message);
    }
  }

  // -- calls: WebRTC full mesh, signalled by Signal frames ----------------------------------------

  /** Why a call could not be started, joined or left: `code` is the server's error code. */
  class CallError extends Error {
    /** @param {string} code @param {string} message @param {number} [status] @param {*} [body] */
    constructor(code, message, status, body) {
      super(message);
      this.name = "CallError";
      this.code = code;
      this.status = status || 0;
      this.body = body || null;
    }
  }

  /** `on(type, handler)` → unsubscriber, `off`, and an `_emit` that isolates failing handlers. */
  class Emitter {
    constructor() {
      this._handlers = new Map();
    }

    on(type, handler) {
      if (!this._handlers.has(type)) this._handlers.set(type, new Set());
      this._handlers.get(type).add(handler);
      return () => this.off(type, handler);
    }

    off(type, handler) {
      const set = this._handlers.get(type);
      if (set && handler) set.delete(handler); else if (set) set.clear();
    }

    _emit(type, data) {
      const set = this._handlers.get(type);
      if (set) Array.from(set).forEach((handler) => {
        try {
          handler(data);
        } catch (err) {
          reportError(err);
        }
      });
    }
  }

  /**
   * One RTCPeerConnection to one remote user, negotiated by the "perfect negotiation" pattern
   * (MDN, WebRTC API): either side offers whenever it needs to; when two offers cross, the
   * impolite peer ignores the other's and the polite one rolls its own back. Incoming signals are
   * handled one at a time, in order, so a candidate never overtakes its description.
   *
   * `direction`: "sendrecv" (a call), "sendonly" (a broadcast's host) or "recvonly" (a viewer).
   * Events: "stream" {userId, stream}, "state" {userId, state}, "error" {userId, error},
   * "candidate-error" {userId, url, errorCode, errorText} (e.g. 401: a TURN server refused the credential).
   */
  class Peer extends Emitter {
    constructor({ userId, polite, signal, localStream = null, direction = "sendrecv", rtcConfig = {},
      disconnectedGrace = 2000, maxIceRestarts = 5, waitForOffer = false }) {
      super();
      this.userId = userId;
      this.polite = !!polite;
      this.direction = direction;
      /** The remote user's media, once a track arrived. */
      this.remoteStream = null;
      /** ICE restarts asked for (after a failure, a long disconnection or a network change). */
      this.iceRestarts = 0;
      /** The remote page's session (see Mesh), once it signalled. */
      this.remoteSession = null;
      this.closed = false;
      this._signal = signal;
      this._grace = disconnectedGrace;
      this._maxRestarts = maxIceRestarts;
      this._restartsInRow = 0;
      this._graceTimer = null;
      this._makingOffer = false;
      this._ignoreOffer = false;
      this._inbox = Promise.resolve();
      const pc = this.pc = new root.RTCPeerConnection(rtcConfig);
      // Waiting: the media is added when the other's first offer is in, and goes in the answer.
      // One side offering first avoids a glare at every connection (and Chromium, after the
      // implicit rollback a glare causes, at times gathers no ICE candidates at all).
      this._waitingMedia = waitForOffer ? { stream: localStream } : null;
      if (!waitForOffer) this._addMedia(localStream, false);
      pc.onnegotiationneeded = () => this._offer();
      pc.onicecandidate = (e) => { if (e.candidate) this._signal("candidate", e.candidate.toJSON()); };
      pc.ontrack = (e) => this._track(e);
      pc.onicecandidateerror = (e) => this._emit("candidate-error", {
        userId, url: e.url, errorCode: e.errorCode, errorText: e.errorText });
      pc.oniceconnectionstatechange = () => this._iceChanged();
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === "connected") this._restartsInRow = 0;
        this._emit("state", { userId, state: pc.connectionState });
      };
    }

    /** The RTCPeerConnection's connectionState ("closed" after `close()`). */
    get state() {
      return this.closed ? "closed" : this.pc.connectionState;
    }

    /** Take a Signal from the remote user: kind "offer", "answer" or "candidate". */
    handle(kind, data) {
      this._inbox = this._inbox.then(() => this._receive(kind, data))
        .catch((error) => this._emit("error", { userId: this.userId, error }));
      return this._inbox;
    }

    /** Gather new ICE candidates and renegotiate (both sides keep their media). */
    restartIce() {
      if (this.closed) return false;
      if (this._restartsInRow >= this._maxRestarts) return false;  // relay refused, no route: stop trying
      this._restartsInRow++;
      this.iceRestarts++;
      this.pc.restartIce();
      return true;
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      clearTimeout(this._graceTimer);
      this.pc.close();
      this._emit("state", { userId: this.userId, state: "closed" });
    }

    /** Add the local media; `answering`: into the transceivers the remote offer made. */
    _addMedia(stream, answering) {
      const pc = this.pc;
      if (this.direction === "recvonly") {
        if (answering) return;  // the offer's transceivers receive already
        pc.addTransceiver("audio", { direction: "recvonly" });
        pc.addTransceiver("video", { direction: "recvonly" });
      } else if (stream) {
        stream.getTracks().forEach((track) => {
          if (this.direction === "sendonly" && !answering) {
            pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
            return;
          }
          const sender = pc.addTrack(track, stream);  // reuses an offered transceiver of its kind
          const transceiver = pc.getTransceivers().find((t) => t.sender === sender);
          if (transceiver && this.direction === "sendonly") transceiver.direction = "sendonly";
        });
      }
    }

    async _offer() {
      // An offer came in between the event and now: answering it negotiates, and the browser
      // fires negotiationneeded again once stable if something is still missing.
      if (this.closed || this.pc.signalingState !== "stable") return;
      try {
        this._makingOffer = true;
        await this.pc.setLocalDescription();
        const local = this.pc.localDescription;
        this._signal(local.type, { type: local.type, sdp: local.sdp });
      } catch (error) {
        this._emit("error", { userId: this.userId, error });
      } finally {
        this._makingOffer = false;
      }
    }

    async _receive(kind, data) {
      if (this.closed) return;
      const pc = this.pc;
      if (kind === "candidate") {
        const candidate = Object.assign({}, data);
        delete candidate.session;
        delete candidate.peer_session;
        try {
          await pc.addIceCandidate(candidate);
        } catch (err) {
          if (!this._ignoreOffer) throw err;  // a candidate of the offer we ignored
        }
        return;
      }
      if (kind !== "offer" && kind !== "answer") return;
      const collision = kind === "offer" && (this._makingOffer || pc.signalingState !== "stable");
      this._ignoreOffer = !this.polite && collision;
      if (this._ignoreOffer) return;
      if (kind === "answer" && pc.signalingState !== "have-local-offer") return;  // of a rolled-back offer
      await pc.setRemoteDescription({ type: kind, sdp: data && data.sdp });
      if (kind === "offer" && this._waitingMedia) {
        const waiting = this._waitingMedia;
        this._waitingMedia = null;
        this._addMedia(waiting.stream, true);
      }
      if (kind === "offer" && pc.signalingState === "have-remote-offer") {
        await pc.setLocalDescription();
        if (pc.localDescription.type === "answer") this._signal("answer", { type: "answer", sdp: pc.localDescription.sdp });
      }
    }

    _track(event) {
      let stream = event.streams && event.streams[0];
      if (!stream) {
        stream = this.remoteStream || new root.MediaStream();
        stream.addTrack(event.track);
      }
      if (stream === this.remoteStream) return;
      this.remoteStream = stream;
      this._emit("stream", { userId: this.userId, stream });
    }

    _iceChanged() {
      const state = this.pc.iceConnectionState;
      clearTimeout(this._graceTimer);
      if (state === "failed") {
        this.restartIce();
      } else if (state === "disconnected") {
        // Often a blip that heals by itself; restart only if it lasts.
        this._graceTimer = setTimeout(() => {
          if (!this.closed && this.pc.iceConnectionState === "disconnected") this.restartIce();
        }, this._grace);
      }
    }
  }

  /**
   * The peers of one `call_id` (a call's id, or "live:<id>" for a peer-to-peer broadcast): it
   * reads the Signal frames for that id from an ITCookRealtime client, makes a Peer per remote
   * user (the lower user id is the polite one) and sends their signals back through the client.
   * Signals that arrive before `configure()` are kept and handled then.
   *
   * Each Mesh is a session (one page load): its signals carry `session` and the `peer_session`
   * they are meant for. A user who reloads the page comes back as a newer session: the others
   * replace their peer to that user with a fresh one, and the new page ignores what was meant for
   * the old one, since an RTCPeerConnection cannot be carried over from one page to the next.
   *
   * Events: "peer" {userId, peer}, "stream" {userId, stream}, "peer-state" {userId, state},
   * "peer-closed" {userId}, "candidate-error" (of a Peer), "error" {userId?, error}.
   */
  class Mesh extends Emitter {
    constructor(realtime, callId, { userId, localStream = null, direction = "sendrecv", rtcConfig = null,
      accept = true, disconnectedGrace, maxIceRestarts } = {}) {
      super();
      this.realtime = realtime;
      this.callId = callId;
      this.userId = Number(userId);
      this.localStream = localStream;
      this.direction = direction;
      /** Whether a Signal from a user without a Peer yet makes one (else it is dropped). */
      this.accept = accept;
      /** @type {Map<number, Peer>} */
      this.peers = new Map();
      this._peerOptions = { disconnectedGrace, maxIceRestarts };
      this._rtcConfig = rtcConfig;
      this._early = [];
      this._outbox = [];
      this._closed = false;
      /** This page's session: its start time first, so that the newer of two compares higher. */
      this.session = Date.now().toString(36).padStart(9, "0") + "." + Math.random().toString(36).slice(2, 10);
      this._off = [
        realtime.on("Signal", (data) => this._signalIn(data || {})),
        realtime.on("open", () => this._flush()),
      ];
      this._networkChanged = () => this.restartIce();
      if (typeof window !== "undefined" && window.addEventListener) window.addEventListener("online", this._networkChanged);
      const connection = typeof navigator !== "undefined" && navigator.connection;
      if (connection && connection.addEventListener) connection.addEventListener("change", this._networkChanged);
    }

    /** Set the RTCConfiguration ({iceServers, iceTransportPolicy}) and handle the early signals. */
    configure(rtcConfig) {
      this._rtcConfig = rtcConfig || {};
      const early = this._early;
      this._early = [];
      early.forEach((data) => this._signalIn(data));
      return this;
    }

    /**
     * The Peer for `userId`, made if needed. `waitForOffer`: this side answers (its media goes
     * in the answer) instead of offering at once; one side of each pair should offer.
     */
    connect(userId, { waitForOffer = false } = {}) {
      const id = Number(userId);
      if (this._closed || id === this.userId || this._rtcConfig === null) return null;
      let peer = this.peers.get(id);
      if (peer) return peer;
      peer = new Peer(Object.assign({
        userId: id, polite: this.userId < id, localStream: this.localStream, direction: this.direction,
        rtcConfig: this._rtcConfig, signal: (kind, data) => this._signalOut(id, kind, data), waitForOffer,
      }, definedOnly(this._peerOptions)));
      peer.on("stream", (e) => this._emit("stream", e));
      peer.on("state", (e) => this._emit("peer-state", e));
      peer.on("error", (e) => this._emit("error", e));
      peer.on("candidate-error", (e) => this._emit("candidate-error", e));
      this.peers.set(id, peer);
      this._emit("peer", { userId: id, peer });
      return peer;
    }

    /** Close the connection to `userId`. */
    drop(userId) {
      const id = Number(userId);
      const peer = this.peers.get(id);
      if (!peer) return false;
      this.peers.delete(id);
      this._outbox = this._outbox.filter((frame) => frame.to !== id);
      peer.close();
      this._emit("peer-closed", { userId: id });
      return true;
    }

    /** ICE restart on every peer (a network change: the old candidates may be gone). */
    restartIce() {
      this.peers.forEach((peer) => peer.restartIce());
    }

    close() {
      if (this._closed) return;
      Array.from(this.peers.keys()).forEach((id) => this.drop(id));
      this._closed = true;
      this._off.forEach((off) => off());
      if (typeof window !== "undefined" && window.removeEventListener) window.removeEventListener("online", this._networkChanged);
      const connection = typeof navigator !== "undefined" && navigator.connection;
      if (connection && connection.removeEventListener) connection.removeEventListener("change", this._networkChanged);
    }

    _signalIn(data) {
      if (this._closed || String(data.call_id) !== String(this.callId)) return;
      const from = Number(data.from);
      if (from === this.userId) return;
      if (this._rtcConfig === null) {
        if (this._early.length < 500) this._early.push(data);
        return;
      }
      const inner = data.data || {};
      const session = typeof inner.session === "string" ? inner.session : null;
      if (inner.peer_session && inner.peer_session !== this.session) return;  // meant for an earlier page of ours
      let peer = this.peers.get(from);
      if (peer && session && peer.remoteSession && session !== peer.remoteSession) {
        if (session < peer.remoteSession) return;  // a late signal of the page that was replaced
        this.drop(from);  // the other user reloaded: start afresh with the new page
        peer = this.connect(from, { waitForOffer: data.kind === "offer" });
      }
      if (!peer && this.accept) peer = this.connect(from, { waitForOffer: data.kind === "offer" });
      if (!peer) return;
      if (session && !peer.remoteSession) peer.remoteSession = session;
      peer.handle(data.kind, inner);
    }

    _signalOut(to, kind, payload) {
      const peer = this.peers.get(to);
      const data = Object.assign({}, payload, { session: this.session,
        peer_session: (peer && peer.remoteSession) || null });
      const frame = { type: "Signal", call_id: this.callId, to, kind, data };
      // While the WebSocket is down, keep the signals; an ICE restart mends what is still lost.
      if (!this.realtime.send(frame) && this._outbox.length < 500) this._outbox.push(frame);
    }

    _flush() {
      const frames = this._outbox;
      this._outbox = [];
      frames.forEach((frame) => {
        if (this.peers.has(frame.to) && !this.realtime.send(frame)) this._outbox.push(frame);
      });
      this.restartIce();  // candidates may have been lost with the old connection
    }
  }

  const CALL_EVENTS = ["CallParticipantJoined", "CallParticipantLeft", "CallEnded"];

  /**
   * A joined group call (SPEC §5 "Calls"): the REST side (join, leave) and a Mesh to every other
   * participant. Made by `ITCookRealtime#joinCall()`. Participants come from the join answer and
   * the CallParticipantJoined / CallParticipantLeft frames on `call:<id>`; a participant the
   * server dropped (gone for 30 s, removed from the group) closes its peer, and the server
   * dropping this user, or CallEnded, ends the call here.
   *
   * States: "joining" → "joined" → "left" (leave()) or "ended" (by the server).
   * Events: "participant-joined" / "participant-left" {userId, userName}, "stream" {userId,
   * stream}, "peer-state" {userId, state}, "state" {state, reason?}, "media" {audio, video},
   * "ended" {reason}, "candidate-error" {userId, url, errorCode, errorText}, "error" {userId?, error}.
   */
  class Call extends Emitter {
    constructor(realtime, callId, options) {
      super();
      this.realtime = realtime;
      this.id = Number(callId);
      this.options = options;
      this.userId = Number(options.userId);
      this.state = "joining";
      this.localStream = null;
      /** @type {Map<number, {user_id: number, user_name: string}>} the others in the call */
      this.participants = new Map();
      /** @type {Map<number, MediaStream>} */
      this.remoteStreams = new Map();
      this.info = null;
      this.iceServers = [];
      this._resyncing = false;
      this._ownStream = false;
      this.mesh = null;
      this._off = [];
    }

    /** @type {Map<number, Peer>} */
    get peers() {
      return this.mesh ? this.mesh.peers : new Map();
    }

    get audioEnabled() {
      return this._enabled("audio");
    }

    get videoEnabled() {
      return this._enabled("video");
    }

    mute() { this._setEnabled("audio", false); }
    unmute() { this._setEnabled("audio", true); }
    cameraOff() { this._setEnabled("video", false); }
    cameraOn() { this._setEnabled("video", true); }

    /**
     * Leave the call (POST /calls/<id>/leave) and close every peer. `{keepalive: true}` from a
     * `pagehide` handler lets the request outlive the page (sendBeacon cannot carry the token).
     */
    async leave({ keepalive = false } = {}) {
      if (this.state === "left" || this.state === "ended") return;
      this._finish("left", "left");
      try {
        await this.options.api("POST", "/calls/" + this.id + "/leave", undefined, keepalive ? { keepalive } : undefined);
      } catch (err) {
        // Already gone (the call ended, or the server dropped us): nothing is left to undo.
        if (!(err instanceof CallError) || (err.status !== 404 && err.status !== 409)) throw err;
      }
    }

    async _join() {
      const o = this.options;
      if (o.localStream) {
        this.localStream = o.localStream;
      } else if (o.direction !== "recvonly") {
        this.localStream = await navigator.mediaDevices.getUserMedia(o.constraints || { audio: true, video: true });
        this._ownStream = true;
      }
      const mesh = this.mesh = new Mesh(this.realtime, this.id, {
        userId: this.userId, localStream: this.localStream, direction: o.direction || "sendrecv",
        disconnectedGrace: o.disconnectedGrace, maxIceRestarts: o.maxIceRestarts,
      });
      mesh.on("stream", (e) => {
        this.remoteStreams.set(e.userId, e.stream);
        this._emit("stream", e);
      });
      mesh.on("peer-state", (e) => {
        this._emit("peer-state", e);
        if (e.state === "failed") this._resync();  // perhaps gone, its CallParticipantLeft missed
      });
      mesh.on("peer", (e) => {
        // Signalled before its CallParticipantJoined arrived (or that frame was missed).
        if (!this.participants.has(e.userId)) this._joined({ user_id: e.userId, user_name: String(e.userId) }, true);
      });
      mesh.on("error", (e) => this._emit("error", e));
      mesh.on("candidate-error", (e) => this._emit("candidate-error", e));
      CALL_EVENTS.forEach((type) => this._off.push(this.realtime.on(type, (data) => this._event(type, data || {}))));
      // Listen first: a participant's frames that follow the join's commit are not missed.
      this.realtime.subscribe(["call:" + this.id]);
      let answer;
      try {
        answer = await o.api("POST", "/calls/" + this.id + "/join");
      } catch (err) {
        this._finish("ended", "join_failed", true);
        throw err;
      }
      if (this.state !== "joining") return this;  // ended while the answer was on its way
      this.info = answer.call || null;
      this.iceServers = o.iceServers || answer.ice_servers || [];
      const rtcConfig = { iceServers: this.iceServers };
      if (o.iceTransportPolicy) rtcConfig.iceTransportPolicy = o.iceTransportPolicy;
      this.realtime.subscribe(["call:" + this.id]);  // again, had it been refused before the join
      this._setState("joined");
      (answer.participants || []).forEach((p) => this._joined(p));  // known before the early signals
      mesh.configure(rtcConfig);
      this.participants.forEach((_, id) => mesh.connect(id));  // the newcomer offers to each
      return this;
    }

    /** Align the participants with GET /calls/<id> (names of peers met by signal, the departed). */
    async _resync() {
      if (this.state !== "joined" || this._resyncing) return;
      this._resyncing = true;
      try {
        const info = await this.options.api("GET", "/calls/" + this.id);
        if (this.state !== "joined") return;
        if (info.ended_at) {
          this._finish("ended", "ended");
          return;
        }
        const present = new Map((info.participants || []).map((p) => [Number(p.user_id), p]));
        if (!present.has(this.userId)) {
          this._finish("ended", "dropped");
          return;
        }
        Array.from(this.participants.keys()).forEach((id) => { if (!present.has(id)) this._left(id); });
        present.forEach((p, id) => {
          const known = this.participants.get(id);
          if (known) known.user_name = p.user_name || known.user_name; else this._joined(p);
        });
      } catch (err) {
        this._emit("error", { error: err });
      } finally {
        this._resyncing = false;
      }
    }

    _event(type, data) {
      if (Number(data.call_id) !== this.id || this.state === "left" || this.state === "ended") return;
      if (type === "CallEnded") {
        this._finish("ended", "ended");
      } else if (type === "CallParticipantLeft" && Number(data.user_id) === this.userId) {
        this._finish("ended", "dropped");
      } else if (type === "CallParticipantLeft") {
        this._left(Number(data.user_id));
      } else if (this.state === "joined") {
        this._joined(data, false, true);  // the newcomer offers: answer it
      }
    }

    _joined(participant, unnamed, wait) {
      const id = Number(participant.user_id);
      if (!id || id === this.userId) return;
      const known = this.participants.get(id);
      if (known) {
        if (participant.user_name) known.user_name = participant.user_name;
        return;
      }
      const entry = { user_id: id, user_name: participant.user_name || String(id) };
      this.participants.set(id, entry);
      this.mesh.connect(id, { waitForOffer: !!wait });
      this._emit("participant-joined", { userId: id, userName: entry.user_name });
      if (unnamed) this._resync();
    }

    _left(id) {
      const entry = this.participants.get(id);
      this.participants.delete(id);
      this.remoteStreams.delete(id);
      const dropped = this.mesh.drop(id);
      if (entry || dropped) this._emit("participant-left", { userId: id, userName: entry ? entry.user_name : String(id) });
    }

    _finish(state, reason, quiet) {
      this._off.forEach((off) => off());
      this._off = [];
      if (this.mesh) this.mesh.close();
      Array.from(this.participants.keys()).forEach((id) => this._left(id));
      if (this._ownStream && this.localStream) this.localStream.getTracks().forEach((track) => track.stop());
      this.realtime.unsubscribe(["call:" + this.id]);
      this._setState(state, reason);
      if (!quiet) this._emit("ended", { reason });
    }

    _setState(state, reason) {
      this.state = state;
      this._emit("state", reason ? { state, reason } : { state });
    }

    _enabled(kind) {
      const tracks = this.localStream ? this.localStream.getTracks().filter((t) => t.kind === kind) : [];
      return tracks.some((t) => t.enabled);
    }

    _setEnabled(kind, on) {
      // A disabled track keeps its place in every peer connection (silence, black frames), so
      // turning it back on needs no renegotiation.
      if (this.localStream) this.localStream.getTracks().forEach((t) => { if (t.kind === kind) t.enabled = on; });
      this._emit("media", { audio: this.audioEnabled, video: this.videoEnabled });
    }
  }

  function definedOnly(object) {
    const out = {};
    Object.keys(object).forEach((key) => { if (object[key] !== undefined) out[key] = object[key]; });
    return out;
  }

  /** The binary string of base64url `text` (JWT parts and VAPID keys leave out the padding). */
  function fromBase64Url(text) {
    const base64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    return atob(base64 + "===".slice((base64.length + 3) % 4));
  }

  /** The user id in a JWT's `sub` (the server's identity), or null. */
  function tokenUserId(token) {
    try {
      const id = Number(JSON.parse(fromBase64Url(String(token).split(".")[1])).sub);
      return Number.isInteger(id) && id > 0 ? id : null;
    } catch (err) {
      return null;
    }
  }

  /** The id of the live call a 409 answer of POST /groups/<id>/calls names. */
  function liveCallId(body) {
    const error = (body && body.error) || {};
    const named = error.call_id || (error.call && error.call.id) || (body && (body.call_id || (body.call && body.call.id)));
    return named ? Number(named) : null;
  }

  function toList(channels) {
    return (Array.isArray(channels) ? channels : [channels]).map(String).filter(Boolean);
  }

  // -- Web Push helpers ------------------------------------------------------------------------

  function pushSupported() {
    return typeof navigator !== "undefined" && !!navigator.serviceWorker &&
      typeof root.PushManager === "function";
  }

  /**
   * Register the Service Worker and wait (at most `timeout` ms) until it is active, which
   * `pushManager.subscribe()` requires. `navigator.serviceWorker.ready` would not do: it waits for
   * a worker controlling this page, and /static/sw.js does not control pages outside /static/.
   */
  async function registerWorker(url, timeout) {
    let registration;
    try {
      registration = await navigator.serviceWorker.register(url);
    } catch (err) {
      throw new PushError("unavailable", "cannot register the service worker: " + (err && err.message), err);
    }
    const worker = registration.installing || registration.waiting;
    if (registration.active || !worker) return registration;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new PushError("unavailable", "the service worker did not activate")),
        timeout);
      worker.addEventListener("statechange", () => {
        if (worker.state === "redundant") {
          clearTimeout(timer);
          reject(new PushError("unavailable", "the service worker failed to install"));
        } else if (worker.state === "activating" || worker.state === "activated") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return registration;
  }

  /** The server's base64url VAPID public key as the bytes `applicationServerKey` takes. */
  function vapidKeyBytes(text) {
    let bytes = null;
    try {
      bytes = Uint8Array.from(fromBase64Url(text), (c) => c.charCodeAt(0));
    } catch (err) {
      bytes = null;
    }
    // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
    if (!bytes || bytes.length !== 65 || bytes[0] !== 4) {
      throw new PushError("server", "the server's VAPID public key is not a P-256 public key");
    }
    return bytes;
  }

  function sameKey(subscription, bytes) {
    const key = subscription.options && subscription.options.applicationServerKey;
    if (!key) return false;
    const mine = new Uint8Array(key);
    return mine.length === bytes.length && mine.every((b, i) => b === bytes[i]);
  }

  /** A PushError from an HTTP error answer (the server's `{error: {code, message}}`). */
  async function pushServerError(response, code) {
    const body = await response.json().catch(() => ({}));
    const error = body.error || {};
    return new PushError(code, (error.message || "HTTP " + response.status) +
      (error.code ? " (" + error.code + ")" : ""));
  }

  function reportError(err) {
    if (typeof root.reportError === "function") root.reportError(err);
    else if (typeof console !== "undefined") console.error(err);
  }

  ITCookRealtime.DEFAULT_CHANNELS = DEFAULT_CHANNELS.slice();
  ITCookRealtime.SERVER_TYPES = SERVER_TYPES.slice();
  ITCookRealtime.AuthError = AuthError;
  ITCookRealtime.PushError = PushError;
  ITCookRealtime.CallError = CallError;
  ITCookRealtime.Call = Call;
  ITCookRealtime.Mesh = Mesh;
  ITCookRealtime.Peer = Peer;

  root.ITCookRealtime = ITCookRealtime;
  root.ITCookWebSocket = ITCookWebSocket;
  if (typeof module === "object" && module && module.exports) {
    module.exports = { ITCookRealtime, ITCookWebSocket };
  }
})(typeof globalThis !== "undefined" ? globalThis : window);
