/*
 * A small client of Janus's HTTP API for the VideoRoom plugin: a session created with the token
 * the app granted (GET /api/v1/live/<id>/media), events read by long polling, and the two roles
 * of a broadcast: `publish(stream)` (the host) and `subscribe()` (a viewer). No dependency.
 *
 * Bodies go as text/plain: Janus parses them all the same, and a "simple" cross-origin request
 * needs no CORS preflight. Every request is bounded (`timeout`); a refusal rejects with a
 * JanusError carrying Janus's code (403: no valid token).
 *
 * Every room has an ACL (its "allowed" list holds the tokens the app granted for it): a join
 * names the session's token. A viewer joins the room as a participant that never publishes,
 * which gives it the private_id the room requires of a subscription.
 *
 *   const session = await ITCookJanus.connect(media.janus_url, media.token);
 *   const pub = await session.publish(media.room, stream, {iceServers}, {id: media.publisher_id});  // host
 *   const sub = await session.subscribe(media.room, {iceServers});         // viewer: sub.pc, sub.stream
 */
(function (root) {
  "use strict";

  const PLUGIN = "janus.plugin.videoroom";
  /** Janus's codes after which a session is over: unauthorized (token revoked), no such session. */
  const FINAL_ERRORS = [403, 458];

  class JanusError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "JanusError";
      this.code = code;
    }
  }

  let counter = 0;
  const transaction = () => "t" + Date.now().toString(36) + (counter++).toString(36);

  /** POST one request of Janus's API; its answer, or a JanusError (Janus's code, 0: no answer). */
  async function post(url, body, timeout) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let answer;
    try {
      const response = await fetch(url, { method: "POST", signal: controller.signal,
        headers: { "Content-Type": "text/plain" },
        body: JSON.stringify(Object.assign({ transaction: transaction() }, body)) });
      answer = await response.json();
    } catch (err) {
      throw new JanusError(0, "the media server did not answer: " + (err && err.message));
    } finally {
      clearTimeout(timer);
    }
    if (answer.janus === "error") throw new JanusError(answer.error.code, answer.error.reason);
    return answer;
  }

  class Session {
    constructor(url, token, id, options) {
      this.url = url;
      this.token = token;
      this.id = id;
      this.timeout = options.timeout;
      this.handles = new Map();   // handle id -> Handle
      this.pending = new Map();   // transaction -> resolve (async plugin answers)
      this.closed = false;
      /** Called with Janus's error once the session is over on Janus's side (revoked, timed out). */
      this.onclose = null;
      this._keepalive = setInterval(() => this._post(this.url + "/" + this.id, { janus: "keepalive" })
        .catch(() => {}), options.keepalive);
      this._poll();
    }

    _post(url, body) {
      return post(url, Object.assign({ token: this.token }, body), this.timeout);
    }

    /** A handle on the VideoRoom plugin. */
    async attach() {
      const answer = await this._post(this.url + "/" + this.id, { janus: "attach", plugin: PLUGIN });
      const handle = new Handle(this, answer.data.id);
      this.handles.set(handle.id, handle);
      return handle;
    }

    /**
     * Publish `stream` to `room` (send only) as participant `id` (the app's `publisher_id`; Janus
     * picks one if undefined); resolves once Janus answered the offer.
     */
    async publish(room, stream, rtcConfig = {}, { id } = {}) {
      const handle = await this.attach();
      const join = { request: "join", ptype: "publisher", room, token: this.token };
      if (id !== undefined && id !== null) join.id = id;
      await handle.message(join);
      const pc = handle.peerConnection(rtcConfig);
      stream.getTracks().forEach((track) => pc.addTransceiver(track, { direction: "sendonly", streams: [stream] }));
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await handle.message({ request: "publish" }, pc.localDescription);
      if (!answer.jsep) throw new JanusError(answer.data.error_code || 0, answer.data.error || "no answer to the offer");
      await pc.setRemoteDescription(answer.jsep);
      return { handle, pc };
    }

    /**
     * Receive the room's publisher: joins as a participant (for its private_id), waits (polling
     * the participants every `retry` ms) until one publishes, then answers Janus's offer.
     * Resolves with {handle, pc, stream}.
     */
    async subscribe(room, rtcConfig = {}, { retry = 1000 } = {}) {
      const member = await this.attach();
      const entered = await member.message({ request: "join", ptype: "publisher", room, token: this.token });
      const privateId = entered.data.private_id;
      let feed = null;
      while (!this.closed) {
        const list = await member.message({ request: "listparticipants", room });
        const publisher = (list.data.participants || []).find((p) => p.publisher);
        if (publisher) { feed = publisher.id; break; }
        if (list.data.error_code) throw new JanusError(list.data.error_code, list.data.error);
        await new Promise((resolve) => setTimeout(resolve, retry));
      }
      if (feed === null) throw new JanusError(0, "session closed");
      const handle = await this.attach();
      const joined = await handle.message({ request: "join", ptype: "subscriber", room, private_id: privateId,
        streams: [{ feed }] });
      if (!joined.jsep) throw new JanusError(joined.data.error_code || 0, joined.data.error || "no offer");
      const pc = handle.peerConnection(rtcConfig);
      const stream = new MediaStream();
      pc.ontrack = (event) => stream.addTrack(event.track);
      await pc.setRemoteDescription(joined.jsep);
      await pc.setLocalDescription(await pc.createAnswer());
      await handle.message({ request: "start", room }, pc.localDescription);
      return { handle, pc, stream };
    }

    /** Hang up every handle and destroy the session. */
    async close() {
      if (this.closed) return;
      this.closed = true;
      clearInterval(this._keepalive);
      this.handles.forEach((handle) => handle.closePeer());
      await this._post(this.url + "/" + this.id, { janus: "destroy" }).catch(() => {});
    }

    async _poll() {
      while (!this.closed) {
        let events;
        try {
          const query = "?maxev=10&rid=" + Date.now() + "&token=" + encodeURIComponent(this.token);
          const response = await fetch(this.url + "/" + this.id + query);
          events = await response.json();
        } catch (err) {
          if (this.closed) return;
          await new Promise((resolve) => setTimeout(resolve, 1000));
          continue;
        }
        if (events && events.janus === "error") {
          // 403: the token was revoked; 458: the session is gone (timed out). Either way Janus
          // will accept nothing more of it. Any other refusal: try again, not in a tight loop.
          if (FINAL_ERRORS.includes(events.error && events.error.code)) {
            this.closed = true;
            clearInterval(this._keepalive);
            this.handles.forEach((handle) => handle.closePeer());
            if (this.onclose) this.onclose(events.error);
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 1000));
          continue;
        }
        (Array.isArray(events) ? events : [events]).forEach((event) => this._dispatch(event));
      }
    }

    _dispatch(event) {
      if (!event || event.janus === "keepalive") return;
      const resolve = event.transaction && this.pending.get(event.transaction);
      if (resolve && event.janus === "event") {
        this.pending.delete(event.transaction);
        resolve(event);
        return;
      }
      const handle = this.handles.get(event.sender);
      if (handle && handle.onevent) handle.onevent(event);
    }
  }

  class Handle {
    constructor(session, id) {
      this.session = session;
      this.id = id;
      this.pc = null;
      this.onevent = null;
    }

    /**
     * A VideoRoom request (with `jsep` if given): resolves {data, jsep} from the synchronous
     * answer or, for an asynchronous one ("ack"), from the event of the same transaction.
     */
    async message(body, jsep) {
      const tx = transaction();
      const waiting = new Promise((resolve) => this.session.pending.set(tx, resolve));
      const request = { janus: "message", transaction: tx, body };
      if (jsep) request.jsep = { type: jsep.type, sdp: jsep.sdp };
      const answer = await this.session._post(this.session.url + "/" + this.session.id + "/" + this.id, request);
      let event = answer;
      if (answer.janus === "ack") {
        let timer;
        const late = new Promise((resolve, reject) => {
          timer = setTimeout(() => reject(new JanusError(0, "no answer from the media server")), this.session.timeout);
        });
        try {
          event = await Promise.race([waiting, late]);
        } finally {
          clearTimeout(timer);
          this.session.pending.delete(tx);
        }
      } else {
        this.session.pending.delete(tx);
      }
      const data = (event.plugindata && event.plugindata.data) || {};
      if (data.error_code && body.request !== "listparticipants") throw new JanusError(data.error_code, data.error);
      return { data, jsep: event.jsep || null };
    }

    /** This handle's RTCPeerConnection; its ICE candidates trickle to Janus. */
    peerConnection(rtcConfig) {
      const pc = this.pc = new RTCPeerConnection(rtcConfig);
      const url = this.session.url + "/" + this.session.id + "/" + this.id;
      pc.onicecandidate = (event) => {
        const candidate = event.candidate ? event.candidate.toJSON() : { completed: true };
        this.session._post(url, { janus: "trickle", candidate }).catch(() => {});
      };
      return pc;
    }

    closePeer() {
      if (this.pc) this.pc.close();
    }
  }

  /** A Janus session on `url` authenticated by `token`. */
  async function connect(url, token, { timeout = 10000, keepalive = 25000 } = {}) {
    const answer = await post(url, { janus: "create", token }, timeout);
    return new Session(url, token, answer.data.id, { timeout, keepalive });
  }

  root.ITCookJanus = { connect, JanusError };
})(typeof self !== "undefined" ? self : this);
