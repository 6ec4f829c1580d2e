/**
 * "Cook together": a group's video call (static/calls.html?group=<id>), through the call API of
 * itcook-realtime.js. Video tiles, mute and camera buttons, who is in the call, join and leave;
 * CallStarted / CallParticipantJoined / CallParticipantLeft / CallEnded on `group:<id>` show the
 * group's call live before this user joins. Everything the server sends is written as text.
 *
 * The login is the demo page's (same tab), else the form here. URL options: ?relay=1 sends media
 * through TURN only (iceTransportPolicy "relay"), to check a deployment's TURN server.
 */
(function () {
  "use strict";

  const { t, api, refreshAccess } = window.ITCookPage;
  const params = new URLSearchParams(location.search);
  const groupId = Number(params.get("group"));
  const $ = (id) => document.getElementById(id);

  let session = null;  // {access, refresh, user}
  let client = null;
  let call = null;
  /** The group's live call as far as this page knows: id and who is in it (user id -> name). */
  const live = { id: null, people: new Map() };
  const peerStates = new Map();  // user id -> RTCPeerConnectionState

  function notice(text) {
    $("calls-notice").textContent = text;
  }

  // -- rendering -------------------------------------------------------------------------------

  function renderPeople() {
    const names = new Map(live.people);
    if (call && call.state === "joined") {
      names.set(session.user.id, session.user.display_name || session.user.username);
      call.participants.forEach((p, id) => names.set(id, p.user_name));
    }
    $("calls-people").replaceChildren(...Array.from(names, ([id, name]) => {
      const li = document.createElement("li");
      li.dataset.userId = String(id);
      li.textContent = id === session.user.id ? t("calls.you_named", "{name} (you)", { name }) : name;
      return li;
    }));
    const text = live.id && !(call && call.state === "joined")
      ? t("calls.live", "A call is live in this group ({count} in it).", { count: names.size }) : "";
    $("calls-live").textContent = text;
  }

  function renderControls() {
    const joined = !!call && (call.state === "joined" || call.state === "joining");
    $("calls-join").hidden = joined;
    $("calls-join").textContent = live.id ? t("calls.join", "Join the call") : t("calls.start", "Start a call");
    ["calls-leave", "calls-mute", "calls-camera"].forEach((id) => { $(id).hidden = !joined; });
    const state = call ? call.state : "idle";
    $("calls-state").dataset.state = state;
    $("calls-state").textContent = t("calls.state." + state, {
      idle: "not in the call", joining: "joining…", joined: "in the call", left: "you left", ended: "the call ended",
    }[state]);
    if (!call) return;
    const audio = call.audioEnabled;
    const video = call.videoEnabled;
    $("calls-mute").setAttribute("aria-pressed", String(!audio));
    $("calls-mute").textContent = audio ? t("calls.mute", "Mute") : t("calls.unmute", "Unmute");
    $("calls-camera").setAttribute("aria-pressed", String(!video));
    $("calls-camera").textContent = video ? t("calls.camera_off", "Camera off") : t("calls.camera_on", "Camera on");
  }

  function tile(userId, name, stream, self) {
    let figure = document.querySelector('#calls-tiles .tile[data-user-id="' + userId + '"]');
    if (!figure) {
      figure = document.createElement("figure");
      figure.className = "tile";
      figure.dataset.userId = String(userId);
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.muted = self;  // never hear yourself
      figure.append(video, document.createElement("figcaption"));
      $("calls-tiles").append(figure);
    }
    figure.querySelector("figcaption").textContent = self ? t("calls.you", "You") : name;
    figure.dataset.state = self ? "connected" : (peerStates.get(userId) || "new");
    const video = figure.querySelector("video");
    if (stream && video.srcObject !== stream) video.srcObject = stream;
    return figure;
  }

  function removeTile(userId) {
    const figure = document.querySelector('#calls-tiles .tile[data-user-id="' + userId + '"]');
    if (figure) figure.remove();
  }

  // -- the call --------------------------------------------------------------------------------

  async function join() {
    notice("");
    $("calls-join").disabled = true;
    const options = { userId: session.user.id };
    if (params.get("relay") === "1") options.iceTransportPolicy = "relay";
    try {
      try {
        call = live.id ? await client.joinCall(live.id, options) : await client.startCall(groupId, options);
      } catch (err) {
        if (err.code !== "call_ended") throw err;
        live.id = null;  // it ended before this click: start the next one
        live.people.clear();
        call = await client.startCall(groupId, options);
      }
    } catch (err) {
      notice(t("calls.join_failed", "Could not join the call: {message}", { message: err.message }));
      call = null;
      return;
    } finally {
      $("calls-join").disabled = false;
    }
    window.callsPage.call = call;
    live.id = call.id;
    tile(session.user.id, "", call.localStream, true);
    call.on("participant-joined", (e) => { tile(e.userId, e.userName, call.remoteStreams.get(e.userId), false); renderPeople(); });
    call.on("participant-left", (e) => { removeTile(e.userId); peerStates.delete(e.userId); renderPeople(); });
    call.on("stream", (e) => {
      const p = call.participants.get(e.userId);
      tile(e.userId, p ? p.user_name : String(e.userId), e.stream, false);
    });
    call.on("peer-state", (e) => {
      peerStates.set(e.userId, e.state);
      const figure = document.querySelector('#calls-tiles .tile[data-user-id="' + e.userId + '"]');
      if (figure) figure.dataset.state = e.state;
    });
    call.on("media", renderControls);
    call.on("ended", (e) => {
      $("calls-tiles").replaceChildren();
      peerStates.clear();
      if (e.reason !== "left") {
        live.id = null;
        live.people.clear();
      }
      if (e.reason === "dropped") notice(t("calls.dropped", "You are no longer in the call."));
      renderControls();
      renderPeople();
    });
    call.participants.forEach((p, id) => tile(id, p.user_name, call.remoteStreams.get(id), false));
    renderControls();
    renderPeople();
  }

  function watchGroup() {
    const mine = (d) => Number(d.group_id) === groupId || (live.id && Number(d.call_id) === live.id);
    client.on("CallStarted", (d) => {
      if (Number(d.group_id) !== groupId) return;
      live.id = Number(d.call_id);
      live.people.clear();
      renderControls();
      renderPeople();
    });
    client.on("CallParticipantJoined", (d) => {
      if (!mine(d)) return;
      live.id = Number(d.call_id);
      live.people.set(Number(d.user_id), d.user_name);
      renderControls();
      renderPeople();
    });
    client.on("CallParticipantLeft", (d) => {
      if (!mine(d)) return;
      live.people.delete(Number(d.user_id));
      renderPeople();
    });
    client.on("CallEnded", (d) => {
      if (Number(d.call_id) !== live.id) return;
      live.id = null;
      live.people.clear();
      renderControls();
      renderPeople();
    });
  }

  async function start() {
    $("calls-login").hidden = true;
    $("calls-main").hidden = false;
    if (!groupId) {
      notice(t("calls.no_group", "Open this page from a group (calls.html?group=<id>)."));
      return;
    }
    client = new ITCookRealtime({ token: session.access, getToken: refreshAccess,
      channels: ITCookRealtime.DEFAULT_CHANNELS.concat(["group:" + groupId]) });
    window.callsPage = { client, call: null, live };
    watchGroup();
    client.connect();
    try {
      const group = await api("GET", "/groups/" + groupId);
      $("calls-group").textContent = group.name;
    } catch (err) {
      notice(err.message);
    }
    await findLiveCall();
    renderControls();
    renderPeople();
  }

  /** The group's live call, if one was started before this page opened (the newest call). */
  async function findLiveCall() {
    let newest = null;
    try {
      newest = ((await api("GET", "/groups/" + groupId + "/calls?per_page=1")).items || [])[0];
    } catch (err) {
      return;  // the live frames will tell
    }
    if (!newest || newest.ended_at || live.id) return;
    live.id = newest.id;
    (newest.participants || []).forEach((p) => live.people.set(Number(p.user_id), p.user_name));
  }

  $("calls-join").addEventListener("click", join);
  $("calls-leave").addEventListener("click", async () => {
    if (!call) return;
    try {
      await call.leave();
    } catch (err) {
      notice(err.message);
    }
  });
  $("calls-mute").addEventListener("click", () => { if (call.audioEnabled) call.mute(); else call.unmute(); });
  $("calls-camera").addEventListener("click", () => { if (call.videoEnabled) call.cameraOff(); else call.cameraOn(); });
  window.addEventListener("itcook:lang", () => {
    if (!session) return;
    renderControls();
    renderPeople();
    if (call && call.state === "joined") tile(session.user.id, "", call.localStream, true);  // "You"
  });
  window.addEventListener("pagehide", () => {
    if (call && call.state === "joined") call.leave({ keepalive: true }).catch(() => {});  // else: away after 30 s
  });

  // After the catalogs: what the page writes is then in the user's language from the start.
  ITCookPage.boot("calls", notice, (loggedIn) => { session = loggedIn; start(); });
})();
