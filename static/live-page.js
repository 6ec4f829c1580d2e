/**
 * Live cooking (static/live.html): the broadcasts live now, a form to create one, and one
 * broadcast (?live=<id>): its video, current step, chat, reactions and viewer count; its host
 * goes live (camera preview first), moves to the next step and ends it.
 *
 * The video comes as GET /api/v1/live/<id>/media says (SPEC §5): through Janus with this user's
 * own token (static/itcook-janus.js) once the host publishes (until then the answer says
 * "state": "waiting": the page asks again every `retry_after` seconds, and at once on a
 * LiveStep, for at most WAIT_LIMIT_MS), peer to peer from the host through Signal frames (the
 * call API's Mesh, call_id "live:<id>"), or not at all ("unavailable"): the page says why and
 * steps, chat and reactions go on. LiveStarted frames (personal, community) show a link here.
 * Everything the server sends is written as text. The login is the demo page's (same tab) or
 * the form here.
 */
(function () {
  "use strict";

  const { t, api, refreshAccess } = window.ITCookPage;
  const liveId = Number(new URLSearchParams(location.search).get("live")) || null;
  const $ = (id) => document.getElementById(id);
  /** How long a viewer waits for the host's video before the page stops asking. */
  const WAIT_LIMIT_MS = 10 * 60 * 1000;
  const waiting = { since: null, timer: null };

  let session = null;  // {access, refresh, user}
  let client = null;
  /** What this page shows and runs; tests read it too. */
  const page = window.livePage = { live: null, media: null, janus: null, pc: null, mesh: null,
    localStream: null, reactions: {}, state: "idle" };

  function notice(text) {
    $("live-notice").textContent = text;
  }

  // -- the lobby: live now, and a new broadcast -------------------------------------------------

  async function showLobby() {
    $("live-lobby").hidden = false;
    let items = [];
    try {
      items = (await api("GET", "/live")).items || [];
    } catch (err) {
      notice(err.message);
    }
    $("live-list").replaceChildren(...items.map((live) => {
      const li = document.createElement("li");
      li.dataset.liveId = String(live.id);
      const link = document.createElement("a");
      link.href = "?live=" + live.id;
      link.textContent = live.title;
      const status = live.status === "live" ? t("live.status.live", "live") : t("live.status.scheduled", "scheduled");
      li.append(link, " — " + (live.host_name || "") + " (" + status + ")");
      return li;
    }));
  }

  $("live-new").addEventListener("submit", async (event) => {
    event.preventDefault();
    const steps = $("live-new-steps").value.split("\n").map((s) => s.trim()).filter(Boolean);
    try {
      const live = await api("POST", "/live", { title: $("live-new-title").value, steps });
      location.search = "?live=" + live.id;
    } catch (err) {
      notice(err.message);
    }
  });

  /** A LiveStarted frame: a link to watch (this is where a follower's notification leads). */
  function alertStarted(data) {
    const id = Number(data.live_id);
    if (id === liveId || document.querySelector('#live-alerts li[data-live-id="' + id + '"]')) return;
    const li = document.createElement("li");
    li.dataset.liveId = String(id);
    const link = document.createElement("a");
    link.href = "?live=" + id;
    link.textContent = t("live.watch", "Watch");
    li.append(t("live.started", "{host} is cooking live: {title}", { host: data.host_name || "", title: data.title || "" }), " ", link);
    $("live-alerts").append(li);
    if (!liveId) showLobby();
  }

  // -- one broadcast ---------------------------------------------------------------------------

  function isHost() {
    return !!page.live && page.live.host_id === session.user.id;
  }

  function render() {
    const live = page.live;
    $("live-title").textContent = live.title;
    $("live-host").textContent = t("live.by", "by {name}", { name: live.host_name || "" });
    $("live-status").dataset.status = live.status;
    $("live-status").textContent = t("live.status." + live.status, live.status);
    const host = isHost();
    $("live-host-controls").hidden = !host;
    $("live-start").hidden = live.status !== "scheduled";
    $("live-next").hidden = live.status !== "live";
    $("live-end").hidden = live.status === "ended";
    $("live-next").disabled = live.current_step != null && live.current_step >= live.steps.length - 1;
    $("live-chat-form").hidden = live.status !== "live";
    $("live-reactions").hidden = live.status !== "live" || host;
    $("live-steps").replaceChildren(...live.steps.map((text, index) => {
      const li = document.createElement("li");
      li.textContent = text;
      if (index === live.current_step) li.setAttribute("aria-current", "step");
      return li;
    }));
    const index = live.current_step;
    $("live-step").dataset.index = index == null ? "" : String(index);
    $("live-step").textContent = index == null ? ""
      : t("live.step", "Step {n}: {text}", { n: index + 1, text: live.steps[index] || "" });
  }

  /** The media note in the page's language, written again when the language changes. */
  let note = null;
  function noteT(mode, key, fallback, values) {
    note = [mode, key, fallback, values];
    mediaNote(mode, t(key, fallback, values), true);
  }

  function mediaNote(mode, text, keep) {
    if (!keep) note = null;
    $("live-media-note").dataset.mode = mode;
    $("live-media-note").textContent = text;
    $("live-video").hidden = mode === "unavailable" || mode === "refused";
  }

  /** The host's camera, shown muted before and while going live. */
  async function preview() {
    if (page.localStream) return page.localStream;
    try {
      page.localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (err) {
      noteT("refused", "live.no_camera", "The camera is not available: {message}", { message: err.message });
      return null;
    }
    $("live-video").srcObject = page.localStream;
    return page.localStream;
  }

  async function startMedia() {
    if (page.state !== "idle") return;
    page.state = "starting";
    let media;
    try {
      media = page.media = await api("GET", "/live/" + liveId + "/media");
    } catch (err) {
      page.state = "failed";
      noteT("refused", "live.media_failed", "The video cannot start: {message}", { message: err.message });
      return;
    }
    const rtcConfig = { iceServers: media.ice_servers || [] };
    try {
      if (media.mode === "unavailable") {
        page.state = "unavailable";
        noteT("unavailable", "live.unavailable", "The video is not available to you: the host already sends it to as many viewers as it can without a media server. The steps, the chat and the reactions still work.");
        return;
      }
      if (media.mode === "janus" && media.state === "waiting") {
        waitForHost(media);
        return;
      }
      if (media.mode === "janus") {
        page.janus = await ITCookJanus.connect(media.janus_url, media.token);
        if (media.role === "publisher") {
          const stream = await preview();
          if (!stream) return;
          page.pc = (await page.janus.publish(media.room, stream, rtcConfig, { id: media.publisher_id })).pc;
        } else {
          noteT("waiting", "live.waiting", "Waiting for the host's video…");
          const sub = await page.janus.subscribe(media.room, rtcConfig);
          page.pc = sub.pc;
          $("live-video").srcObject = sub.stream;
        }
      } else if (media.role === "publisher") {
        const stream = await preview();
        if (!stream) return;
        page.mesh = client.mesh(media.call_id, { userId: session.user.id, direction: "sendonly",
          localStream: stream, rtcConfig, accept: true });
      } else {
        noteT("waiting", "live.waiting", "Waiting for the host's video…");
        page.mesh = client.mesh(media.call_id, { userId: session.user.id, direction: "recvonly", rtcConfig, accept: false });
        page.mesh.on("stream", (e) => {
          if (e.userId === media.host_id) $("live-video").srcObject = e.stream;
        });
        page.pc = page.mesh.connect(media.host_id).pc;
      }
      page.state = "playing";
      mediaNote(media.mode, "");
    } catch (err) {
      page.state = "failed";
      noteT("refused", "live.media_refused", "The media server refused the video: {message}", { message: err.message });
    }
  }

  /** No token before the host publishes: ask again after `retry_after` s, for a bounded time. */
  function waitForHost(media) {
    page.state = "waiting";
    if (waiting.since === null) waiting.since = Date.now();
    if (Date.now() - waiting.since > WAIT_LIMIT_MS) {
      page.state = "failed";
      noteT("refused", "live.host_absent", "The host's video has not started. Reload the page to try again.");
      return;
    }
    noteT("waiting", "live.waiting", "Waiting for the host's video…");
    clearTimeout(waiting.timer);
    waiting.timer = setTimeout(askAgain, Math.max(1, Number(media.retry_after) || 2) * 1000);
  }

  function askAgain() {
    clearTimeout(waiting.timer);
    if (page.state !== "waiting" || !page.live || page.live.status !== "live") return;
    page.state = "idle";
    startMedia();
  }

  function stopMedia() {
    clearTimeout(waiting.timer);
    if (page.janus) page.janus.close();
    if (page.mesh) page.mesh.close();
    if (page.localStream) page.localStream.getTracks().forEach((track) => track.stop());
    page.janus = page.mesh = page.pc = page.localStream = null;
    $("live-video").srcObject = null;
    page.state = "ended";
  }

  function chatLine(data) {
    if (document.querySelector('#live-chat li[data-message-id="' + data.message_id + '"]')) return;
    const li = document.createElement("li");
    li.dataset.messageId = String(data.message_id);
    li.dataset.userId = String(data.user_id);
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = data.user_name;
    li.append(who, document.createTextNode(data.text));
    if (isHost() && Number(data.user_id) !== session.user.id) {
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "delete";
      remove.textContent = t("live.delete", "Delete");
      remove.addEventListener("click", () => api("DELETE", "/live/" + liveId + "/chat/" + data.message_id).catch((e) => notice(e.message)));
      const mute = document.createElement("button");
      mute.type = "button";
      mute.className = "mute";
      mute.textContent = t("live.mute", "Mute");
      mute.addEventListener("click", () => api("POST", "/live/" + liveId + "/mute", { user_id: Number(data.user_id) }).catch((e) => notice(e.message)));
      li.append(remove, mute);
    }
    $("live-chat").append(li);
    $("live-chat").scrollTop = $("live-chat").scrollHeight;
  }

  /** LiveReactions: the counts since the last one, added up and floated over each button. */
  function reactions(counts) {
    Object.keys(counts || {}).forEach((emoji) => {
      const n = Number(counts[emoji]) || 0;
      page.reactions[emoji] = (page.reactions[emoji] || 0) + n;
      const button = Array.from(document.querySelectorAll("#live-reactions .react")).find((b) => b.dataset.emoji === emoji);
      if (!button || !n) return;
      button.querySelector(".count").textContent = String(page.reactions[emoji]);
      const float = document.createElement("span");
      float.className = "float";
      float.textContent = "+" + n;
      float.addEventListener("animationend", () => float.remove());
      button.append(float);
      setTimeout(() => float.remove(), 2000);
    });
  }

  function watchBroadcast() {
    const mine = (d) => Number(d.live_id) === liveId;
    client.on("LiveStep", (d) => {
      if (!mine(d)) return;
      page.live.current_step = Number(d.index);
      if (typeof d.text === "string") page.live.steps[d.index] = d.text;
      render();
      if (page.state === "waiting") askAgain();  // the host acts: their video may be up now
    });
    client.on("LiveChat", (d) => { if (mine(d)) chatLine(d); });
    client.on("LiveChatDeleted", (d) => {
      const li = mine(d) && document.querySelector('#live-chat li[data-message-id="' + d.message_id + '"]');
      if (li) li.remove();
    });
    client.on("LiveReactions", (d) => { if (mine(d)) reactions(d.counts); });
    client.on("LiveViewers", (d) => {
      if (!mine(d)) return;
      $("live-viewers").dataset.count = String(d.count);
      $("live-viewers").textContent = String(d.count);
    });
    client.on("LiveEnded", (d) => {
      if (!mine(d)) return;
      page.live.status = "ended";
      stopMedia();
      noteT("ended", "live.ended", "The broadcast has ended.");
      render();
    });
    client.on("LiveStarted", (d) => {
      if (!mine(d) || page.live.status !== "scheduled") return;
      page.live.status = "live";
      render();
      startMedia();
    });
  }

  async function showBroadcast() {
    $("live-main").hidden = false;
    try {
      page.live = await api("GET", "/live/" + liveId);
    } catch (err) {
      notice(err.message);
      return;
    }
    render();
    if (page.live.status === "live") startMedia();
    else if (page.live.status === "scheduled" && isHost()) preview();
    else if (page.live.status === "ended") noteT("ended", "live.ended", "The broadcast has ended.");
  }

  $("live-start").addEventListener("click", async () => {
    try {
      page.live = await api("POST", "/live/" + liveId + "/start");
    } catch (err) {
      notice(err.message);
      return;
    }
    render();
    startMedia();
  });
  $("live-next").addEventListener("click", async () => {
    const index = page.live.current_step == null ? 0 : page.live.current_step + 1;
    try {
      await api("POST", "/live/" + liveId + "/step", { index });
    } catch (err) {
      notice(err.message);
    }
  });
  $("live-end").addEventListener("click", async () => {
    try {
      page.live = await api("POST", "/live/" + liveId + "/end");
    } catch (err) {
      notice(err.message);
      return;
    }
    stopMedia();
    render();
  });
  $("live-chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = $("live-chat-text");
    try {
      await api("POST", "/live/" + liveId + "/chat", { text: box.value });
      box.value = "";
    } catch (err) {
      notice(err.message);
    }
  });
  document.querySelectorAll("#live-reactions .react").forEach((button) => {
    button.addEventListener("click", () => client.send({ type: "React", live_id: liveId, emoji: button.dataset.emoji }));
  });

  function start() {
    $("live-login").hidden = true;
    const channels = ITCookRealtime.DEFAULT_CHANNELS.concat(liveId ? ["live:" + liveId] : []);
    client = new ITCookRealtime({ token: session.access, getToken: refreshAccess, channels });
    page.client = client;
    client.on("LiveStarted", alertStarted);
    if (liveId) watchBroadcast();
    client.connect();
    if (liveId) showBroadcast(); else showLobby();
  }

  window.addEventListener("itcook:lang", () => {
    if (page.live) render(); else if (client && !liveId) showLobby();
    if (note) noteT(...note);
  });
  window.addEventListener("pagehide", () => { if (page.janus) page.janus.close(); });

  // After the catalogs: what the page writes is then in the user's language from the start.
  ITCookPage.boot("live", notice, (loggedIn) => { session = loggedIn; start(); });
})();
