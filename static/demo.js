/**
 * The demo page: log in, post and comment through the REST API, and watch the events of the
 * real-time plugin arrive through ITCookRealtime (itcook-realtime.js). Plain DOM, no framework;
 * everything the server sends is written with textContent.
 *
 * Beside the community feed: the notification inbox (its unread count kept live by personal
 * events and NotificationsRead), groups with their `group:<id>` channels, and Web Push.
 *
 * URL options: ?transport=sse (or websocket) forces one transport, ?debug=1 logs the client.
 */
(function () {
  "use strict";

  const API = "/api/v1";
  const KEY = "itcook.demo.session";
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);

  let session = load();   // {access, refresh, user}
  let client = null;
  let openPostId = null;
  const typers = new Map();  // user_id -> {name, timer}
  const toastedComments = new Set();
  /** The inbox: `newestId` is the highest notification id counted; `loading` collects the ids
   * that arrive live while the list is being fetched (the answer may not include them). */
  const inbox = { unread: 0, newestId: 0, loading: null, refreshTimer: null };
  const groups = new Map();  // group id -> group (the caller's)
  let openGroupId = null;

  // -- session and REST ------------------------------------------------------------------------

  function load() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (err) {
      return null;
    }
  }

  function save(value) {
    session = value;
    if (value) sessionStorage.setItem(KEY, JSON.stringify(value)); else sessionStorage.removeItem(KEY);
  }

  /** A fresh access token through the refresh token, or null (the page then asks to log in). */
  async function refreshAccess() {
    if (!session || !session.refresh) return null;
    const response = await fetch(API + "/auth/refresh", {
      method: "POST", headers: { Authorization: "Bearer " + session.refresh },
    });
    if (!response.ok) return null;
    const body = await response.json();
    save(Object.assign({}, session, { access: body.access_token }));
    return body.access_token;
  }

  async function api(method, path, body, retried) {
    const headers = { Authorization: "Bearer " + session.access };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (response.status === 401 && !retried && (await refreshAccess())) return api(method, path, body, true);
    if (!response.ok) throw new Error((data.error && data.error.message) || "HTTP " + response.status);
    return data;
  }

  async function authenticate(kind) {
    $("auth-error").textContent = "";
    const response = await fetch(API + "/auth/" + kind, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("auth-username").value.trim(), password: $("auth-password").value }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("auth-error").textContent = (body.error && body.error.message) || "HTTP " + response.status;
      return;
    }
    save({ access: body.access_token, refresh: body.refresh_token, user: body.user });
    $("auth-password").value = "";
    start();
  }

  // -- the real-time client --------------------------------------------------------------------

  function connect() {
    const forced = params.get("transport");
    client = new ITCookRealtime({
      token: session.access,
      getToken: refreshAccess,
      onAuthError: () => logout("Your session has ended; please log in again."),
      onStateChange: showState,
      transports: forced ? [forced] : ["websocket", "sse"],
      logger: params.get("debug") ? console : null,
    });
    client.on("*", (data, frame) => {
      logFrame(frame);
      $("conn-last-id").textContent = client.lastEventId == null ? "—" : String(client.lastEventId);
    });
    client.on("NewCommunityPost", (d) => {
      addPost({ id: d.post_id, author_id: d.author_id, author_name: d.author_name, content: d.content,
        likes_count: 0, comments_count: 0 }, true);
      toast("📢 New post", d.author_name + ": " + d.content);
    });
    client.on("PostLiked", (d) => {
      setLikes(d.post_id, d.likes_count);
      toast("❤️ Liked", d.user_name + " liked your post (" + d.likes_count + " likes)");
    });
    client.on("NewComment", (d) => {
      if (d.post_id === openPostId) addComment(d);
      if (toastedComments.has(d.comment_id)) return;  // on post:<id> and personal: one toast
      toastedComments.add(d.comment_id);
      toast("💬 " + d.author_name + " commented", d.content);
    });
    client.on("NewFollower", (d) => toast("👤 New follower", d.follower_name + " follows you"));
    client.on("ExpiringItems", (d) => toast("🧊 Fridge",
      d.items.map((i) => i.name).join(", ") + " — expiring within " + d.days + " day(s)", "warning"));
    client.on("GoalAchieved", (d) => toast("🏆 Goal achieved", d.title, "success"));
    client.on("RecipeGenerated", (d) => toast("🤖 Recipe ready", d.title, "success"));
    client.on("RecipeFailed", (d) => toast("🤖 Recipe failed", d.error, "error"));
    client.on("SystemNotification", (d) => toast("🔔 " + d.title, d.message, d.level));
    client.on("UserTyping", showTyping);
    client.on("*", (data, frame) => {
      // Every durable event on the personal channel is a notification, except NotificationsRead
      // and NearbyOfferTaken (live updates, not filed in the inbox).
      if (frame.channel === "personal" && frame.id != null && frame.type !== "NotificationsRead" &&
          frame.type !== "NearbyOfferTaken") {
        countNotification(frame.id);
      }
    });
    client.on("NotificationsRead", notificationsRead);
    client.on("NewGroupPost", (d) => {
      if (d.group_id === openGroupId) addGroupPost(d, true);
      const group = groups.get(d.group_id);
      if (d.author_id !== session.user.id) {
        toast("👥 " + (group ? group.name : "Group " + d.group_id), d.author_name + ": " + d.content);
      }
    });
    client.on("GroupInvitation", (d) => {
      $("group-join-id").value = String(d.group_id);
      toast("👥 Invitation", d.invited_by_name + " invites you to " + d.group_name + " (press Join)");
    });
    client.on("Unsubscribed", (d) => {
      if (d.reason !== "access_revoked") return;
      // The client itself dropped the channel from the ones it asks for; the page forgets the group.
      d.channels.filter((name) => name.startsWith("group:")).forEach((name) => {
        const id = Number(name.slice(6));
        const group = groups.get(id);
        removeGroup(id);
        toast("👥 Group", "You are no longer a member of " + (group ? group.name : "group " + id), "warning");
      });
    });
    client.on("Recovery", (d) => {
      if (d.recovered) return;
      toast("⚠️ Missed notifications", "Some could not be recovered; the feed was reloaded.", "warning");
      loadFeed();
      loadInbox();
    });
    client.on("Error", (d) => toast("Server said", d.code + ": " + d.message, "error"));
    // The inbox is read once the personal channel is live: a notification made before that is
    // in the answer, one made after arrives live (a first connection has no resume point).
    const offOpen = client.on("open", () => {
      offOpen();
      loadInbox().catch((err) => toast("Error", err.message, "error"));
    });
    client.connect();
    // Panels in their own files (nearby.js) hook in here.
    window.dispatchEvent(new CustomEvent("itcook:ready", { detail: { client, api } }));
  }

  function showState(state, info) {
    $("conn").dataset.state = state;
    let text = state;
    if (state === "reconnecting" && info.reason && info.delay == null) text += " (" + info.reason + ")";
    else if (state === "reconnecting" && info.delay != null) text += " in " + (info.delay / 1000).toFixed(1) + " s";
    $("conn-state").textContent = text;
    $("conn-transport").textContent = info.transport || "—";
    $("conn-reconnects").textContent = String(info.reconnects);
  }

  // -- feed, post panel, typing ----------------------------------------------------------------

  async function loadFeed() {
    const page = await api("GET", "/community/posts?per_page=20");
    $("feed").replaceChildren();
    page.items.slice().reverse().forEach((post) => addPost(post, false));
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function button(text, className, onClick) {
    const node = el("button", text, className);
    node.type = "button";
    node.addEventListener("click", () => onClick().catch((err) => toast("Error", err.message, "error")));
    return node;
  }

  function addPost(post, fresh) {
    if (document.querySelector('#feed li[data-post-id="' + post.id + '"]')) return;
    const li = el("li", null, fresh ? "fresh" : "");
    li.dataset.postId = String(post.id);
    li.append(el("div", post.author_name + " · post " + post.id, "meta"), el("div", post.content, "content"));
    const likes = el("span", String(post.likes_count || 0), "likes");
    const actions = el("div", null, "actions");
    actions.append(
      button("❤️ Like", "secondary like", async () => {
        const state = await api("POST", "/community/posts/" + post.id + "/like");
        setLikes(post.id, state.likes_count);
      }),
      likes,
      button("💬 Open", "secondary open", () => openPost(post)),
    );
    if (post.author_id !== session.user.id) {
      actions.append(button("👤 Follow " + post.author_name, "secondary follow", async () => {
        await api("POST", "/community/users/" + post.author_id + "/follow");
        toast("Following", "You follow " + post.author_name);
      }));
    }
    li.append(actions);
    $("feed").prepend(li);
  }

  function setLikes(postId, count) {
    const node = document.querySelector('#feed li[data-post-id="' + postId + '"] .likes');
    if (node) node.textContent = String(count);
  }

  async function openPost(post) {
    closePost();
    openPostId = post.id;
    $("post-panel").hidden = false;
    $("post-panel-id").textContent = "#" + post.id + " by " + post.author_name;
    $("post-panel-content").textContent = post.content;
    client.subscribe(["post:" + post.id]);
    const page = await api("GET", "/community/posts/" + post.id + "/comments?per_page=100");
    page.items.forEach((c) => addComment({ comment_id: c.id, author_name: c.author_name, content: c.content }));
    $("comment-input").focus();
  }

  function closePost() {
    if (openPostId == null) return;
    if (client) {
      client.stopTyping(openPostId);
      client.unsubscribe(["post:" + openPostId]);
    }
    openPostId = null;
    typers.forEach((t) => clearTimeout(t.timer));
    typers.clear();
    renderTypers();
    $("comments").replaceChildren();
    $("post-panel").hidden = true;
  }

  function addComment(c) {
    if (document.querySelector('#comments li[data-comment-id="' + c.comment_id + '"]')) return;
    const li = el("li");
    li.dataset.commentId = String(c.comment_id);
    li.append(el("div", c.author_name, "meta"), el("div", c.content));
    $("comments").append(li);
  }

  function showTyping(d) {
    if (d.post_id !== openPostId) return;
    const known = typers.get(d.user_id);
    if (known) clearTimeout(known.timer);
    if (!d.typing) {
      typers.delete(d.user_id);
    } else {
      // The server ends a forgotten state by itself; this is only a safety net for the display.
      typers.set(d.user_id, { name: d.user_name, timer: setTimeout(() => {
        typers.delete(d.user_id);
        renderTypers();
      }, 8000) });
    }
    renderTypers();
  }

  function renderTypers() {
    const names = Array.from(typers.values()).map((t) => t.name);
    $("typing").textContent = !names.length ? ""
      : names.join(", ") + (names.length === 1 ? " is typing…" : " are typing…");
  }

  // -- inbox -------------------------------------------------------------------------------------

  function setUnread(count) {
    inbox.unread = Math.max(0, count);
    $("unread-count").textContent = String(inbox.unread);
    $("unread-count").dataset.count = String(inbox.unread);
  }

  /** The newest notifications and the unread count, from the server. */
  async function loadInbox() {
    const arrived = inbox.loading = [];
    let page;
    try {
      page = await api("GET", "/notifications?per_page=10");
    } finally {
      inbox.loading = null;
    }
    const newest = page.items.length ? page.items[0].id : 0;
    // Live ones newer than the answer's newest were not in its count.
    setUnread(page.unread_count + arrived.filter((id) => id > newest).length);
    inbox.newestId = Math.max(newest, inbox.newestId);
    renderNotifications(page.items);
  }

  /** A notification arrived live: one more unread, and the list is refreshed shortly. */
  function countNotification(id) {
    if (id <= inbox.newestId) return;  // already counted (the list's answer included it)
    inbox.newestId = id;
    if (inbox.loading) inbox.loading.push(id);
    setUnread(inbox.unread + 1);
    clearTimeout(inbox.refreshTimer);
    inbox.refreshTimer = setTimeout(() => {
      api("GET", "/notifications?per_page=10").then((page) => renderNotifications(page.items))
        .catch((err) => toast("Error", err.message, "error"));
    }, 300);
  }

  /** Read on this or another device: the count is the server's as of that moment. */
  function notificationsRead(d) {
    setUnread(d.unread_count);
    document.querySelectorAll("#notifications li.unread").forEach((li) => {
      const id = Number(li.dataset.id);
      if ((d.ids && d.ids.indexOf(id) >= 0) || (d.up_to_id != null && id <= d.up_to_id)) {
        li.className = "read";
      }
    });
  }

  function renderNotifications(items) {
    $("notifications").replaceChildren(...items.map((n) => {
      const li = el("li", null, n.read ? "read" : "unread");
      li.dataset.id = String(n.id);
      li.dataset.type = n.type;
      li.append(el("b", n.title), el("span", n.body, "body"));
      // Panels in their own files may add actions to it (nearby.js: "offer these nearby").
      window.dispatchEvent(new CustomEvent("itcook:notification", { detail: { notification: n, element: li } }));
      return li;
    }));
  }

  // -- groups ------------------------------------------------------------------------------------

  async function loadGroups() {
    const page = await api("GET", "/groups?mine=true&per_page=100");
    page.items.forEach((group) => groups.set(group.id, group));
    renderGroups();
    client.subscribe(page.items.map((group) => "group:" + group.id));
  }

  function addGroup(group) {
    groups.set(group.id, group);
    renderGroups();
    client.subscribe(["group:" + group.id]);
    openGroup(group.id);
  }

  /** Forget a group in the page (the channel is the client's business: see the callers). */
  function removeGroup(id) {
    groups.delete(id);
    if (openGroupId === id) {
      openGroupId = null;
      $("group-panel").hidden = true;
      $("group-posts").replaceChildren();
    }
    renderGroups();
  }

  function renderGroups() {
    $("group-list").replaceChildren(...Array.from(groups.values()).map((group) => {
      const li = el("li", null, group.id === openGroupId ? "open" : "");
      li.dataset.groupId = String(group.id);
      li.append(el("span", group.name + " · #" + group.id, "name"),
        button("Open", "link open", async () => openGroup(group.id)));
      li.append(Object.assign(el("a", "Cook together", "link call"), { href: "/static/calls.html?group=" + group.id }));
      if (group.my_role !== "owner") {
        li.append(button("Leave", "link leave", async () => {
          await api("POST", "/groups/" + group.id + "/leave");
          // The server also revokes the channel, but this connection might be down right now:
          // a reconnect still asking for the group would be refused.
          client.unsubscribe(["group:" + group.id]);
          removeGroup(group.id);
        }));
      }
      return li;
    }));
  }

  async function openGroup(id) {
    openGroupId = id;
    renderGroups();
    $("group-panel").hidden = false;
    $("group-panel-name").textContent = groups.get(id).name + " (group #" + id + ")";
    $("group-posts").replaceChildren();
    const page = await api("GET", "/groups/" + id + "/posts?per_page=20");
    if (openGroupId !== id) return;
    page.items.slice().reverse().forEach((p) => addGroupPost(
      { group_id: id, post_id: p.id, author_name: p.author_name, content: p.content }, false));
  }

  function addGroupPost(d, fresh) {
    if (document.querySelector('#group-posts li[data-post-id="' + d.post_id + '"]')) return;
    const li = el("li", null, fresh ? "fresh" : "");
    li.dataset.postId = String(d.post_id);
    li.append(el("div", d.author_name, "meta"), el("div", d.content, "content"));
    $("group-posts").prepend(li);
  }

  // -- Web Push ----------------------------------------------------------------------------------

  const PUSH_MESSAGES = {
    unsupported: "This browser does not support Web Push.",
    not_configured: "Web Push is not configured on this server.",
    denied: "Notifications are blocked for this site: allow them in the browser's site settings.",
    unavailable: "The browser refused to subscribe (a headless browser has no push service).",
  };

  function pushStatus(state, text) {
    $("push-status").dataset.state = state;
    $("push-status").textContent = text;
  }

  async function togglePush(on) {
    pushStatus("busy", on ? "Subscribing…" : "Unsubscribing…");
    try {
      if (on) {
        await client.enablePush();
        pushStatus("on", "Push is on: you are notified here while the app is closed.");
      } else {
        pushStatus("off", (await client.disablePush()) ? "Push is off." : "Push was not on.");
      }
    } catch (err) {
      const known = err instanceof ITCookRealtime.PushError && PUSH_MESSAGES[err.code];
      pushStatus("error", known ? known + " Details: " + err.message : err.message);
    }
  }

  // -- toasts and the frame log -----------------------------------------------------------------

  function toast(title, body, level) {
    const node = el("div", null, "toast");
    node.dataset.level = level || "info";
    node.append(el("b", title), el("span", body));
    $("toasts").append(node);
    setTimeout(() => node.remove(), 6000);
    while ($("toasts").children.length > 5) $("toasts").firstChild.remove();
  }

  function logFrame(frame) {
    const line = el("li", (frame.id != null ? "#" + frame.id + " " : "") + frame.type +
      (frame.channel ? " [" + frame.channel + "]" : ""));
    line.dataset.type = frame.type;
    $("events").prepend(line);
    while ($("events").children.length > 50) $("events").lastChild.remove();
  }

  // -- "make something happen" ---------------------------------------------------------------------

  function tomorrow() {
    const d = new Date(Date.now() + 86400000);
    return d.toISOString().slice(0, 10);
  }

  const tries = {
    "try-fridge": async () => {
      await api("POST", "/fridge/items", { name: "Milk", quantity: 1, unit: "l", expires_on: tomorrow() });
      await api("POST", "/fridge/notify-expiring?days=3");
    },
    "try-goal": async () => {
      const goal = await api("POST", "/goals", { title: "Cook 1 new dish", target_value: 1 });
      await api("POST", "/goals/" + goal.id + "/progress", { value: 1 });
    },
    "try-recipe": () => api("POST", "/recipes/generate", { ingredients: ["tomato", "egg", "onion"] }),
    "try-system": () => api("POST", "/admin/notifications",
      { title: "Maintenance", message: "Back in 5 minutes", level: "warning" }),
  };

  // -- wiring ------------------------------------------------------------------------------------

  function start() {
    $("auth").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    $("whoami").textContent = session.user.display_name + (session.user.role === "admin" ? " (admin)" : "");
    $("try-system").hidden = session.user.role !== "admin";
    connect();
    const failed = (err) => toast("Error", err.message, "error");
    loadFeed().catch(failed);
    loadGroups().catch(failed);
  }

  function logout(message) {
    if (client) client.disconnect();
    window.dispatchEvent(new CustomEvent("itcook:logout"));
    client = null;
    closePost();
    groups.clear();
    openGroupId = null;
    $("group-panel").hidden = true;
    renderGroups();
    save(null);
    $("app").hidden = true;
    $("auth").hidden = false;
    $("logout").hidden = true;
    $("whoami").textContent = "";
    $("auth-error").textContent = message || "";
  }

  $("auth").addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = event.submitter && event.submitter.value === "register" ? "register" : "login";
    authenticate(kind).catch((err) => { $("auth-error").textContent = err.message; });
  });
  $("logout").addEventListener("click", () => logout(""));
  $("post-form").addEventListener("submit", (event) => {
    event.preventDefault();
    api("POST", "/community/posts", { content: $("post-content").value })
      .then(() => { $("post-content").value = ""; })
      .catch((err) => toast("Error", err.message, "error"));
  });
  $("post-close").addEventListener("click", closePost);
  $("comment-input").addEventListener("input", () => {
    if (openPostId != null && $("comment-input").value) client.startTyping(openPostId);
  });
  $("comment-input").addEventListener("blur", () => { if (openPostId != null) client.stopTyping(openPostId); });
  $("comment-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const postId = openPostId;
    client.stopTyping(postId);
    api("POST", "/community/posts/" + postId + "/comments", { content: $("comment-input").value })
      .then((c) => {
        $("comment-input").value = "";
        addComment({ comment_id: c.id, author_name: c.author_name, content: c.content });
      })
      .catch((err) => toast("Error", err.message, "error"));
  });
  $("mark-all-read").addEventListener("click", () => {
    if (!inbox.newestId) return;
    // The count drops when NotificationsRead arrives, on this device as on the others: taking
    // it from this answer could undo a notification that arrived in between.
    api("POST", "/notifications/read", { up_to_id: inbox.newestId })
      .catch((err) => toast("Error", err.message, "error"));
  });
  $("group-create").addEventListener("submit", (event) => {
    event.preventDefault();
    api("POST", "/groups", { name: $("group-name").value, open: true })
      .then((group) => { $("group-name").value = ""; addGroup(group); })
      .catch((err) => toast("Error", err.message, "error"));
  });
  $("group-join").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = Number($("group-join-id").value);
    api("POST", "/groups/" + id + "/join")
      .then(() => api("GET", "/groups/" + id))
      .then((group) => { $("group-join-id").value = ""; addGroup(group); })
      .catch((err) => toast("Error", err.message, "error"));
  });
  $("group-post-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = openGroupId;
    api("POST", "/groups/" + id + "/posts", { content: $("group-post-content").value })
      .then((p) => {
        $("group-post-content").value = "";
        if (openGroupId === id) addGroupPost({ post_id: p.id, author_name: p.author_name, content: p.content }, true);
      })
      .catch((err) => toast("Error", err.message, "error"));
  });
  $("push-enable").addEventListener("click", () => togglePush(true));
  $("push-disable").addEventListener("click", () => togglePush(false));
  Object.keys(tries).forEach((id) => $(id).addEventListener("click", () => {
    tries[id]().catch((err) => toast("Error", err.message, "error"));
  }));

  if (session && session.user) start();
})();
