/**
 * The IT Cook web client's core: log in, the community feed (likes and follows with their state,
 * counters live through PostStats on `post:<id>`), a post's comments and typing, the inbox,
 * groups, Web Push, toasts and the connection pill. Plain DOM, no framework; everything the
 * server sends is written with textContent. Texts come from ITCookI18n (itcook-i18n.js).
 *
 * Panels in their own files (kitchen.js, nearby.js) hook in through `itcook:ready` (the client,
 * the REST helper, toast, the user) and `itcook:logout`: everything of a user is dropped there.
 *
 * URL options: ?transport=sse (or websocket) forces one transport, ?debug=1 logs the client.
 */
(function () {
  "use strict";

  const API = "/api/v1";
  const KEY = "itcook.demo.session";
  const FEED_SIZE = 20;  // posts shown, each one's post:<id> channel joined
  const LONG_POST = 600;  // characters past which a post is folded in the feed
  const I18N = window.ITCookI18n;
  const t = (key, params) => I18N.t(key, params);
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);

  let session = load();   // {access, refresh, user}
  let client = null;
  let my = fresh();      // everything of the logged-in user, dropped whole at logout

  /** The per-user state of the page. */
  function fresh() {
    return {
      posts: new Map(),       // post id -> post (the feed's, newest last)
      following: new Map(),   // author id -> bool, once known
      postRefs: new Map(),    // "post:<id>" -> how many parts of the page want it
      openPostId: null,
      typers: new Map(),      // user_id -> {name, timer}
      toastedComments: new Set(),
      inbox: { unread: 0, newestId: 0, loading: null, refreshTimer: null, items: [] },
      groups: new Map(),
      openGroupId: null,
      conn: { state: "idle", info: { reconnects: 0 }, countdown: null, fallbackShown: false },
      offs: [],
    };
  }

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
    if (!session) return null;  // logged out meanwhile
    save(Object.assign({}, session, { access: body.access_token }));
    return body.access_token;
  }

  /** An API error: the server's message (in the user's language) and its stable code. */
  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || t("error.http", { status }));
      this.status = status;
      this.code = (error && error.code) || "http_" + status;
    }
  }

  async function api(method, path, body, retried) {
    if (!session) throw new ApiError(401, { code: "logged_out", message: t("auth.logged_out") });
    const headers = { Authorization: "Bearer " + session.access, "Accept-Language": I18N.lang };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    if (response.status === 401 && !retried && (await refreshAccess())) return api(method, path, body, true);
    if (!response.ok) throw new ApiError(response.status, data.error);
    return data;
  }

  async function authenticate(kind) {
    $("auth-error").textContent = "";
    const response = await fetch(API + "/auth/" + kind, {
      method: "POST", headers: { "Content-Type": "application/json", "Accept-Language": I18N.lang },
      body: JSON.stringify({ username: $("auth-username").value.trim(), password: $("auth-password").value }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("auth-error").textContent = (body.error && body.error.message) || t("error.http", { status: response.status });
      return;
    }
    save({ access: body.access_token, refresh: body.refresh_token, user: body.user });
    $("auth-password").value = "";
    start();
  }

  /** The user's language setting wins over this browser's; a choice made here is saved there. */
  function adoptUserLanguage(user) {
    const lang = user && user.language;
    if (lang && I18N.supported.indexOf(lang) >= 0 && lang !== I18N.lang) I18N.setLang(lang);
  }

  // -- the real-time client --------------------------------------------------------------------

  function connect() {
    const forced = params.get("transport");
    client = new ITCookRealtime({
      token: session.access,
      getToken: refreshAccess,
      onAuthError: () => logout(t("auth.session_ended")),
      onStateChange: showState,
      transports: forced ? [forced] : ["websocket", "sse"],
      logger: params.get("debug") ? console : null,
    });
    const on = (type, handler) => my.offs.push(client.on(type, handler));
    on("*", (data, frame) => {
      logFrame(frame);
      $("conn-last-id").textContent = client.lastEventId == null ? "—" : String(client.lastEventId);
    });
    on("NewCommunityPost", (d) => {
      addPost({ id: d.post_id, author_id: d.author_id, author_name: d.author_name, content: d.content,
        likes_count: 0, comments_count: 0, liked_by_me: false }, true);
      if (d.author_id !== session.user.id) toast(t("toast.new_post"), d.author_name + ": " + d.content);
    });
    on("PostStats", (d) => setStats(d.post_id, d));
    on("PostLiked", (d) => {
      setStats(d.post_id, { likes_count: d.likes_count });
      toast(t("toast.liked"), t("toast.liked_body", { name: d.user_name, count: d.likes_count }));
    });
    on("NewComment", (d) => {
      if (d.post_id === my.openPostId) addComment(d);
      if (my.toastedComments.has(d.comment_id) || d.author_id === session.user.id) return;
      my.toastedComments.add(d.comment_id);  // on post:<id> and personal: one toast
      toast(t("toast.commented", { name: d.author_name }), d.content);
    });
    on("NewFollower", (d) => toast(t("toast.follower"), t("toast.follower_body", { name: d.follower_name })));
    on("SystemNotification", (d) => toast("🔔 " + d.title, d.message, d.level));
    on("UserTyping", showTyping);
    on("*", (data, frame) => {
      // Every durable event on the personal channel is a notification, except NotificationsRead
      // and NearbyOfferTaken (live updates, not filed in the inbox).
      if (frame.channel === "personal" && frame.id != null && frame.type !== "NotificationsRead" &&
          frame.type !== "NearbyOfferTaken") {
        countNotification(frame.id);
      }
    });
    on("NotificationsRead", notificationsRead);
    on("NewGroupPost", (d) => {
      if (d.group_id === my.openGroupId) addGroupPost(d, true);
      const group = my.groups.get(d.group_id);
      if (d.author_id !== session.user.id) {
        toast("👥 " + (group ? group.name : t("groups.group_n", { id: d.group_id })), d.author_name + ": " + d.content);
      }
    });
    on("CallStarted", (d) => {
      if (d.started_by === session.user.id) return;
      const group = my.groups.get(d.group_id);
      toast(t("toast.call_started"), t("toast.call_started_body",
        { group: group ? group.name : t("groups.group_n", { id: d.group_id }) }), "info",
        { href: "/static/calls.html?group=" + d.group_id, text: t("calls.join") });
    });
    on("GroupInvitation", (d) => {
      $("group-join-id").value = String(d.group_id);
      toast(t("toast.invitation"), t("toast.invitation_body", { name: d.invited_by_name, group: d.group_name }));
    });
    on("Unsubscribed", (d) => {
      if (d.reason !== "access_revoked") return;
      // The client itself dropped the channel from the ones it asks for; the page forgets the group.
      d.channels.filter((name) => name.startsWith("group:")).forEach((name) => {
        const id = Number(name.slice(6));
        const group = my.groups.get(id);
        removeGroup(id);
        toast(t("groups.title"), t("groups.left_body", { group: group ? group.name : "#" + id }), "warning");
      });
    });
    on("Recovery", (d) => {
      if (d.recovered) return;
      toast(t("toast.missed"), t("toast.missed_body"), "warning");
      loadFeed().catch(failed);
      loadInbox().catch(failed);
    });
    on("Error", (d) => toast(t("toast.server_said"), d.code + ": " + d.message, "error"));
    // The inbox is read once the personal channel is live: a notification made before that is
    // in the answer, one made after arrives live (a first connection has no resume point).
    const offOpen = client.on("open", () => {
      offOpen();
      loadInbox().catch(failed);
    });
    client.connect();
    window.dispatchEvent(new CustomEvent("itcook:ready", { detail: {
      client, api, toast, user: session.user, t, openPost: openPostById } }));
  }

  function showState(state, info) {
    my.conn.state = state;
    my.conn.info = info;
    $("conn").dataset.state = state;
    $("conn-transport").textContent = info.transport || "—";
    $("conn-reconnects").textContent = String(info.reconnects);
    $("conn-fallback").hidden = !(state === "open" && info.fallback);
    if (state === "open" && info.fallback && !my.conn.fallbackShown) {
      my.conn.fallbackShown = true;  // once per fallback, not at every channel change
      toast(t("conn.fallback_title"), t("conn.fallback_body"), "warning");
    } else if (state === "open" && !info.fallback) {
      my.conn.fallbackShown = false;
    }
    clearInterval(my.conn.countdown);
    my.conn.countdown = null;
    if (state === "reconnecting" && info.retryAt) my.conn.countdown = setInterval(renderState, 250);
    renderState();
  }

  /** The pill's text; "reconnecting in N s" counts down to the next attempt. */
  function renderState() {
    const { state, info } = my.conn;
    let text = t("conn." + state);
    if (state === "reconnecting" && info.retryAt) {
      const left = Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000));
      text = t("conn.reconnecting_in", { count: left });
      if (left === 0) {
        clearInterval(my.conn.countdown);
        my.conn.countdown = null;
      }
    } else if (state === "reconnecting" && info.reason) {
      const key = "conn.reason." + info.reason;
      const said = t(key);
      text += " (" + (said === key ? info.reason : said) + ")";  // a reason without a text: as it is
    }
    $("conn-state").textContent = text;
  }

  const failed = (err) => toast(t("toast.error"), err.message, "error");

  // -- post channels: joined while some part of the page shows the post -----------------------

  function wantPost(id) {
    const name = "post:" + id;
    const n = my.postRefs.get(name) || 0;
    my.postRefs.set(name, n + 1);
    if (!n && client) client.subscribe([name]);
  }

  function dropPost(id) {
    const name = "post:" + id;
    const n = my.postRefs.get(name) || 0;
    if (n <= 1) {
      my.postRefs.delete(name);
      if (n && client) client.unsubscribe([name]);
    } else {
      my.postRefs.set(name, n - 1);
    }
  }

  // -- feed, post panel, typing ----------------------------------------------------------------

  async function loadFeed() {
    const page = await api("GET", "/community/posts?per_page=" + FEED_SIZE);
    Array.from(my.posts.keys()).forEach(removePost);
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
    node.addEventListener("click", () => {
      node.disabled = true;
      Promise.resolve().then(onClick).catch(failed).finally(() => { node.disabled = false; });
    });
    return node;
  }

  function postItem(id) {
    return document.querySelector('#feed li[data-post-id="' + id + '"]');
  }

  function addPost(post, isFresh) {
    if (my.posts.has(post.id)) return;
    my.posts.set(post.id, post);
    const li = el("li", null, isFresh ? "fresh" : "");
    li.dataset.postId = String(post.id);
    const meta = el("div", null, "meta");
    meta.append(el("span", post.author_name, "author"), " · ",
      el("span", t("feed.post_n", { id: post.id }), "post-n"));
    const content = el("div", post.content, "content");
    content.id = "post-content-" + post.id;
    li.append(meta, content);
    if (post.content.length > LONG_POST) {
      // A long post is folded to a few lines in the feed; the reader unfolds it.
      content.classList.add("folded");
      const more = el("button", t("feed.more"), "link more");
      more.type = "button";
      more.setAttribute("aria-expanded", "false");
      more.setAttribute("aria-controls", content.id);
      more.addEventListener("click", () => {
        const open = content.classList.toggle("folded") === false;
        more.setAttribute("aria-expanded", String(open));
        more.textContent = t(open ? "feed.less" : "feed.more");
      });
      li.append(more);
    }
    const actions = el("div", null, "actions");
    const like = button("", "secondary like", () => toggleLike(post.id));
    const open = button("", "secondary open", () => openPost(post));
    actions.append(like, el("span", "", "likes"), open, el("span", "", "comments-count"));
    if (post.author_id !== session.user.id) {
      actions.append(button("", "secondary follow", () => toggleFollow(post.author_id, post.author_name)));
      if (typeof post.author_followed_by_me === "boolean") my.following.set(post.author_id, post.author_followed_by_me);
      else if (!my.following.has(post.author_id)) learnFollowing(post.author_id);  // a live post says nothing
    }
    li.append(actions);
    $("feed").prepend(li);
    renderPost(post.id);
    wantPost(post.id);
    // The feed shows FEED_SIZE posts: the oldest leaves, and its channel with it.
    while (my.posts.size > FEED_SIZE) removePost(my.posts.keys().next().value);
    $("feed-empty").hidden = my.posts.size > 0;
  }

  function removePost(id) {
    if (!my.posts.delete(id)) return;
    const li = postItem(id);
    if (li) li.remove();
    dropPost(id);
    $("feed-empty").hidden = my.posts.size > 0;
  }

  /** The texts and states of a post's buttons, from what the page knows. */
  function renderPost(id) {
    const post = my.posts.get(id);
    const li = postItem(id);
    if (!post || !li) return;
    const like = li.querySelector(".like");
    like.textContent = post.liked_by_me ? t("feed.unlike") : t("feed.like");
    like.setAttribute("aria-pressed", String(!!post.liked_by_me));
    li.querySelector(".likes").textContent = t("feed.likes", { count: post.likes_count || 0 });
    li.querySelector(".comments-count").textContent = t("feed.comments", { count: post.comments_count || 0 });
    li.querySelector(".open").textContent = t("feed.open");
    const more = li.querySelector(".more");
    if (more) more.textContent = t(more.getAttribute("aria-expanded") === "true" ? "feed.less" : "feed.more");
    li.querySelector(".post-n").textContent = t("feed.post_n", { id });
    const follow = li.querySelector(".follow");
    if (follow) {
      const on = my.following.get(post.author_id);
      follow.textContent = t(on ? "feed.unfollow" : "feed.follow", { name: post.author_name });
      follow.setAttribute("aria-pressed", String(!!on));
    }
  }

  function setStats(postId, stats) {
    const post = my.posts.get(postId);
    if (!post) return;
    if (stats.likes_count != null) post.likes_count = stats.likes_count;
    if (stats.comments_count != null) post.comments_count = stats.comments_count;
    if (stats.liked != null) post.liked_by_me = stats.liked;
    renderPost(postId);
  }

  async function toggleLike(postId) {
    const post = my.posts.get(postId);
    const state = await api(post.liked_by_me ? "DELETE" : "POST", "/community/posts/" + postId + "/like");
    setStats(postId, { likes_count: state.likes_count, liked: state.liked });
  }

  async function learnFollowing(authorId) {
    my.following.set(authorId, false);
    const profile = await api("GET", "/community/users/" + authorId).catch(() => null);
    if (profile && typeof profile.followed_by_me === "boolean") setFollowing(authorId, profile.followed_by_me);
  }

  function setFollowing(authorId, on) {
    my.following.set(authorId, on);
    my.posts.forEach((post) => { if (post.author_id === authorId) renderPost(post.id); });
  }

  async function toggleFollow(authorId, name) {
    const on = my.following.get(authorId);
    const state = await api(on ? "DELETE" : "POST", "/community/users/" + authorId + "/follow");
    setFollowing(authorId, state.following);
    toast(t(state.following ? "toast.following" : "toast.unfollowed"), t(state.following
      ? "toast.following_body" : "toast.unfollowed_body", { name }));
  }

  async function openPostById(id) {
    const post = my.posts.get(id) || await api("GET", "/community/posts/" + id);
    await openPost(post);
  }

  async function openPost(post) {
    closePost();
    my.openPostId = post.id;
    $("post-panel").hidden = false;
    $("post-panel-id").textContent = t("post.by", { id: post.id, name: post.author_name });
    $("post-panel-content").textContent = post.content;
    $("comments-empty").hidden = false;
    wantPost(post.id);
    const page = await api("GET", "/community/posts/" + post.id + "/comments?per_page=100");
    if (my.openPostId !== post.id) return;
    page.items.forEach((c) => addComment({ comment_id: c.id, author_name: c.author_name, content: c.content }));
    $("comment-input").focus();
  }

  function closePost() {
    if (my.openPostId == null) return;
    if (client) client.stopTyping(my.openPostId);
    dropPost(my.openPostId);
    my.openPostId = null;
    my.typers.forEach((typer) => clearTimeout(typer.timer));
    my.typers.clear();
    renderTypers();
    $("comments").replaceChildren();
    $("post-panel").hidden = true;
    showError("comment", null);
  }

  function addComment(c) {
    if (document.querySelector('#comments li[data-comment-id="' + c.comment_id + '"]')) return;
    const li = el("li");
    li.dataset.commentId = String(c.comment_id);
    li.append(el("div", c.author_name, "meta"), el("div", c.content));
    $("comments").append(li);
    $("comments-empty").hidden = true;
  }

  function showTyping(d) {
    if (d.post_id !== my.openPostId) return;
    const known = my.typers.get(d.user_id);
    if (known) clearTimeout(known.timer);
    if (!d.typing) {
      my.typers.delete(d.user_id);
    } else {
      // The server ends a forgotten state by itself; this is only a safety net for the display.
      my.typers.set(d.user_id, { name: d.user_name, timer: setTimeout(() => {
        my.typers.delete(d.user_id);
        renderTypers();
      }, 8000) });
    }
    renderTypers();
  }

  function renderTypers() {
    const names = Array.from(my.typers.values()).map((typer) => typer.name);
    $("typing").textContent = !names.length ? ""
      : t("typing.text", { names: names.join(", "), count: names.length });
  }

  // -- forms: counters and errors ----------------------------------------------------------------

  /** A live "n / limit" counter under an input with `data-limit`; over it, the form says so. */
  function counter(inputId, counterId) {
    const input = $(inputId);
    const limit = Number(input.dataset.limit);
    const update = () => {
      const n = input.value.length;
      const node = $(counterId);
      node.textContent = t("form.counter", { n: I18N.formatNumber(n), limit: I18N.formatNumber(limit) });
      node.dataset.over = String(n > limit);
      if (n > limit) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    };
    input.addEventListener("input", update);
    window.addEventListener("itcook:lang", update);
    update();
    return update;
  }

  /** Empty inputs, telling their counters. */
  function clear(ids) {
    ids.forEach((id) => {
      $(id).value = "";
      $(id).dispatchEvent(new Event("input"));
    });
  }

  /** The form's error line (the server's message), or none. */
  function showError(name, err) {
    const node = $(name + "-error");
    if (node) node.textContent = err ? err.message : "";
  }

  // -- inbox -------------------------------------------------------------------------------------

  function setUnread(count) {
    my.inbox.unread = Math.max(0, count);
    $("unread-count").textContent = String(my.inbox.unread);
    $("unread-count").dataset.count = String(my.inbox.unread);
  }

  /** The newest notifications and the unread count, from the server. */
  async function loadInbox() {
    const mine = my;
    const arrived = mine.inbox.loading = [];
    let page;
    try {
      page = await api("GET", "/notifications?per_page=10");
    } finally {
      mine.inbox.loading = null;
    }
    if (mine !== my) return;  // logged out meanwhile
    const newest = page.items.length ? page.items[0].id : 0;
    // Live ones newer than the answer's newest were not in its count.
    setUnread(page.unread_count + arrived.filter((id) => id > newest).length);
    my.inbox.newestId = Math.max(newest, my.inbox.newestId);
    renderNotifications(page.items);
  }

  /** A notification arrived live: one more unread, and the list is refreshed shortly. */
  function countNotification(id) {
    const inbox = my.inbox;
    if (id <= inbox.newestId) return;  // already counted (the list's answer included it)
    inbox.newestId = id;
    if (inbox.loading) inbox.loading.push(id);
    setUnread(inbox.unread + 1);
    clearTimeout(inbox.refreshTimer);
    inbox.refreshTimer = setTimeout(() => {
      api("GET", "/notifications?per_page=10")
        .then((page) => { if (inbox === my.inbox) renderNotifications(page.items); })
        .catch(failed);
    }, 300);
  }

  /** Read on this or another device: the count is the server's as of that moment. */
  function notificationsRead(d) {
    setUnread(d.unread_count);
    my.inbox.items.forEach((n) => {
      if ((d.ids && d.ids.indexOf(n.id) >= 0) || (d.up_to_id != null && n.id <= d.up_to_id)) n.read = true;
    });
    document.querySelectorAll("#notifications li.unread").forEach((li) => {
      const id = Number(li.dataset.id);
      if ((d.ids && d.ids.indexOf(id) >= 0) || (d.up_to_id != null && id <= d.up_to_id)) {
        li.className = "read";
      }
    });
  }

  const LINK_KEYS = { post: "inbox.open_post", recipe: "inbox.open_recipe", recipes: "inbox.open_recipes",
    goal: "inbox.open_goals", group: "inbox.open_groups", nearby: "inbox.open_nearby", fridge: "inbox.open_fridge" };

  /** Where a notification leads: the server's `link` ("/#post-7"), on this page. */
  function notificationLink(n) {
    const match = /^\/?(#([a-z]+)(?:-\d+)?)$/.exec(n.link || "");
    if (!match || !LINK_KEYS[match[2]]) return null;
    return { href: match[1], key: LINK_KEYS[match[2]] };
  }

  function renderNotifications(items) {
    my.inbox.items = items;
    $("notifications-empty").hidden = items.length > 0;
    $("notifications").replaceChildren(...items.map((n) => {
      const li = el("li", null, n.read ? "read" : "unread");
      li.dataset.id = String(n.id);
      li.dataset.type = n.type;
      const when = el("time", I18N.relativeTime(n.created_at));
      when.dateTime = n.created_at;
      when.title = I18N.formatDate(n.created_at, { dateStyle: "medium", timeStyle: "short" });
      li.append(el("b", n.title), el("span", n.body, "body"), when);
      const link = notificationLink(n);
      if (link) {
        const a = el("a", t(link.key), "go");
        a.href = link.href;
        li.append(a);
      }
      // Panels in their own files may add actions to it (nearby.js: "offer these nearby").
      window.dispatchEvent(new CustomEvent("itcook:notification", { detail: { notification: n, element: li } }));
      return li;
    }));
  }

  function refreshTimes() {
    document.querySelectorAll("#notifications time").forEach((node) => {
      node.textContent = I18N.relativeTime(node.dateTime);
    });
  }

  /** `#post-7`, `#recipe-3`, `#group-2`, `#goal-1`: links of the inbox and of pushes open what
   * they name; `#nearby`, `#recipes` are panels the browser scrolls to by itself. */
  function route() {
    const match = /^#(post|recipe|group|goal)-(\d+)$/.exec(location.hash);
    if (!match || !session) return;
    const id = Number(match[2]);
    if (match[1] === "post") {
      openPostById(id).then(() => $("post-panel").scrollIntoView({ block: "nearest" })).catch(failed);
    } else if (match[1] === "recipe") {
      window.dispatchEvent(new CustomEvent("itcook:open-recipe", { detail: { id } }));
    } else if (match[1] === "group" && my.groups.has(id)) {
      openGroup(id).then(() => $("groups").scrollIntoView({ block: "nearest" })).catch(failed);
    } else {
      const target = match[1] === "goal" ? document.querySelector('#goal-list li[data-goal-id="' + id + '"]') : null;
      (target || $(match[1] === "goal" ? "goals" : "groups")).scrollIntoView({ block: "nearest" });
    }
  }

  // -- groups ------------------------------------------------------------------------------------

  async function loadGroups() {
    const mine = my;
    const page = await api("GET", "/groups?mine=true&per_page=100");
    if (mine !== my) return;
    page.items.forEach((group) => my.groups.set(group.id, group));
    renderGroups();
    client.subscribe(page.items.map((group) => "group:" + group.id));
  }

  function addGroup(group) {
    my.groups.set(group.id, group);
    renderGroups();
    client.subscribe(["group:" + group.id]);
    openGroup(group.id).catch(failed);
  }

  /** Forget a group in the page (the channel is the client's business: see the callers). */
  function removeGroup(id) {
    my.groups.delete(id);
    if (my.openGroupId === id) {
      my.openGroupId = null;
      $("group-panel").hidden = true;
      $("group-posts").replaceChildren();
    }
    renderGroups();
  }

  function renderGroups() {
    $("groups-empty").hidden = my.groups.size > 0;
    $("group-list").replaceChildren(...Array.from(my.groups.values()).map((group) => {
      const li = el("li", null, group.id === my.openGroupId ? "open" : "");
      li.dataset.groupId = String(group.id);
      li.append(el("span", group.name + " · #" + group.id, "name"),
        button(t("groups.open"), "link open", () => openGroup(group.id)));
      li.append(Object.assign(el("a", t("calls.title"), "link call"), { href: "/static/calls.html?group=" + group.id }));
      if (group.my_role !== "owner") {
        li.append(button(t("groups.leave"), "link leave", async () => {
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
    my.openGroupId = id;
    renderGroups();
    $("group-panel").hidden = false;
    $("group-panel-name").textContent = t("groups.panel", { name: my.groups.get(id).name, id });
    $("group-posts").replaceChildren();
    const page = await api("GET", "/groups/" + id + "/posts?per_page=20");
    if (my.openGroupId !== id) return;
    page.items.slice().reverse().forEach((p) => addGroupPost(
      { group_id: id, post_id: p.id, author_name: p.author_name, content: p.content }, false));
  }

  function addGroupPost(d, isFresh) {
    if (document.querySelector('#group-posts li[data-post-id="' + d.post_id + '"]')) return;
    const li = el("li", null, isFresh ? "fresh" : "");
    li.dataset.postId = String(d.post_id);
    li.append(el("div", d.author_name, "meta"), el("div", d.content, "content"));
    $("group-posts").prepend(li);
  }

  // -- Web Push ----------------------------------------------------------------------------------

  function pushStatus(state, text) {
    $("push-status").dataset.state = state;
    $("push-status").textContent = text;
  }

  async function togglePush(on) {
    pushStatus("busy", t(on ? "push.subscribing" : "push.unsubscribing"));
    try {
      if (on) {
        await client.enablePush();
        pushStatus("on", t("push.on"));
      } else {
        pushStatus("off", t((await client.disablePush()) ? "push.off" : "push.was_off"));
      }
    } catch (err) {
      const known = err instanceof ITCookRealtime.PushError &&
        ["unsupported", "not_configured", "denied", "unavailable"].indexOf(err.code) >= 0;
      pushStatus("error", known ? t("push.error." + err.code) + " " + t("push.details", { message: err.message })
        : err.message);
    }
  }

  // -- toasts and the frame log -----------------------------------------------------------------

  const TOAST_MAX = 3;
  const TOAST_CHARS = 280;  // the rest of a long post is in the feed, not in a toast

  /** A toast; `link` ({href, text}) adds where to go about it. */
  function toast(title, body, level, link) {
    const node = el("div", null, "toast");
    node.dataset.level = level || "info";
    const text = String(body == null ? "" : body);
    node.append(el("b", title), el("span", text.length > TOAST_CHARS ? text.slice(0, TOAST_CHARS) + "…" : text, "body"));
    if (link) node.append(Object.assign(el("a", link.text, "link"), { href: link.href }));
    const close = el("button", "×", "dismiss");
    close.type = "button";
    close.setAttribute("aria-label", t("toast.dismiss"));
    close.addEventListener("click", () => node.remove());
    node.append(close);
    $("toasts").append(node);
    setTimeout(() => node.remove(), 6000);
    while ($("toasts").children.length > TOAST_MAX) $("toasts").firstChild.remove();
  }

  function logFrame(frame) {
    const line = el("li", (frame.id != null ? "#" + frame.id + " " : "") + frame.type +
      (frame.channel ? " [" + frame.channel + "]" : ""));
    line.dataset.type = frame.type;
    $("events").prepend(line);
    while ($("events").children.length > 50) $("events").lastChild.remove();
  }

  // -- language ----------------------------------------------------------------------------------

  function relabel() {
    $("lang-select").value = I18N.lang;
    my.posts.forEach((post) => renderPost(post.id));
    renderGroups();
    renderTypers();
    renderState();
    if (session) {
      $("whoami").textContent = session.user.display_name + (session.user.role === "admin" ? " " + t("auth.admin") : "");
      if (client && client.state === "open") loadInbox().catch(failed);  // the server's texts, in the new language
    }
  }

  // -- wiring ------------------------------------------------------------------------------------

  function start() {
    $("auth").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    $("whoami").textContent = session.user.display_name + (session.user.role === "admin" ? " " + t("auth.admin") : "");
    adoptUserLanguage(session.user);
    connect();
    loadFeed().catch(failed);
    loadGroups().catch(failed);
    route();
  }

  /** Log out: the client is closed and every trace of the user leaves the page. */
  function logout(message) {
    if (client) client.disconnect();
    my.offs.forEach((off) => off());
    window.dispatchEvent(new CustomEvent("itcook:logout"));
    client = null;
    closePost();
    clearTimeout(my.inbox.refreshTimer);
    clearInterval(my.conn.countdown);
    my = fresh();
    save(null);
    ["feed", "comments", "notifications", "group-list", "group-posts", "events", "toasts"].forEach((id) =>
      $(id).replaceChildren());
    setUnread(0);
    ["feed-empty", "notifications-empty", "groups-empty"].forEach((id) => { $(id).hidden = false; });
    $("group-panel").hidden = true;
    $("conn").dataset.state = "idle";
    $("conn-state").textContent = t("conn.idle");
    $("conn-transport").textContent = "—";
    $("conn-fallback").hidden = true;
    $("conn-reconnects").textContent = "0";
    $("conn-last-id").textContent = "—";
    $("push-status").textContent = "";
    clear(["post-content", "comment-input", "group-name", "group-join-id", "group-post-content"]);
    ["post", "comment"].forEach((name) => showError(name, null));
    $("app").hidden = true;
    $("auth").hidden = false;
    $("logout").hidden = true;
    $("whoami").textContent = "";
    $("auth-error").textContent = message || "";
  }

  function wire() {
    $("auth").addEventListener("submit", (event) => {
      event.preventDefault();
      const kind = event.submitter && event.submitter.value === "register" ? "register" : "login";
      authenticate(kind).catch((err) => { $("auth-error").textContent = err.message; });
    });
    $("logout").addEventListener("click", () => logout(""));
    $("lang-select").value = I18N.lang;
    $("lang-select").addEventListener("change", () => {
      const lang = $("lang-select").value;
      I18N.setLang(lang);
      if (session) api("PATCH", "/auth/me", { language: lang }).catch(() => { /* kept in this browser */ });
    });
    window.addEventListener("itcook:lang", relabel);
    // Every input with a limit counts; those without a counter of their own get one after them.
    document.querySelectorAll("[data-limit]").forEach((input) => {
      let id = input.id + "-counter";
      if (input.id === "post-content") id = "post-counter";
      else if (input.id === "comment-input") id = "comment-counter";
      else if (!$(id)) {
        const node = el("span", "", "counter");
        node.id = id;
        input.after(node);
        input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + id).trim());
      }
      counter(input.id, id);
    });
    $("post-form").addEventListener("submit", (event) => {
      event.preventDefault();
      showError("post", null);
      // Sent as typed even past the limit: the server refuses it and says why; nothing is cut.
      api("POST", "/community/posts", { content: $("post-content").value })
        .then(() => {
          clear(["post-content"]);
        })
        .catch((err) => showError("post", err));
    });
    $("post-close").addEventListener("click", closePost);
    $("comment-input").addEventListener("input", () => {
      if (my.openPostId != null && $("comment-input").value) client.startTyping(my.openPostId);
    });
    $("comment-input").addEventListener("blur", () => {
      if (my.openPostId != null && client) client.stopTyping(my.openPostId);
    });
    $("comment-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const postId = my.openPostId;
      client.stopTyping(postId);
      showError("comment", null);
      api("POST", "/community/posts/" + postId + "/comments", { content: $("comment-input").value })
        .then((c) => {
          clear(["comment-input"]);
          addComment({ comment_id: c.id, author_name: c.author_name, content: c.content });
        })
        .catch((err) => showError("comment", err));
    });
    $("mark-all-read").addEventListener("click", () => {
      if (!my.inbox.newestId) return;
      // The count drops when NotificationsRead arrives, on this device as on the others: taking
      // it from this answer could undo a notification that arrived in between.
      api("POST", "/notifications/read", { up_to_id: my.inbox.newestId }).catch(failed);
    });
    $("group-create").addEventListener("submit", (event) => {
      event.preventDefault();
      api("POST", "/groups", { name: $("group-name").value, open: true })
        .then((group) => { clear(["group-name"]); addGroup(group); })
        .catch(failed);
    });
    $("group-join").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = Number($("group-join-id").value);
      api("POST", "/groups/" + id + "/join")
        .then(() => api("GET", "/groups/" + id))
        .then((group) => { $("group-join-id").value = ""; addGroup(group); })
        .catch(failed);
    });
    $("group-post-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = my.openGroupId;
      api("POST", "/groups/" + id + "/posts", { content: $("group-post-content").value })
        .then((p) => {
          clear(["group-post-content"]);
          if (my.openGroupId === id) addGroupPost({ post_id: p.id, author_name: p.author_name, content: p.content }, true);
        })
        .catch(failed);
    });
    $("push-enable").addEventListener("click", () => togglePush(true));
    $("push-disable").addEventListener("click", () => togglePush(false));
    window.addEventListener("hashchange", route);
    setInterval(refreshTimes, 30000);
  }

  // Wired at once (a form must never submit itself natively); texts follow the catalogs.
  wire();
  I18N.ready.then(() => {
    window.dispatchEvent(new CustomEvent("itcook:lang", { detail: { lang: I18N.lang } }));
    if (session && session.user) start();
  });
})();
