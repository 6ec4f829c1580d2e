/* The menu plan page: log in, then the week as a grid edited in place (static/itcook-plans.js). */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const I18N = window.ITCookI18n;
  const t = (key, params) => I18N.t(key, params);
  const planId = Number(new URLSearchParams(location.search).get("plan"));
  let session = null;
  let focused = null;

  function days(weekStart) {
    const first = new Date(weekStart + "T00:00:00Z");
    return Array.from({ length: 7 }, (_, i) => new Date(first.getTime() + i * 86400000).toISOString().slice(0, 10));
  }

  function who(entryId) {
    return session.presence.users.filter((u) => u.entry_id === entryId && u.user_id !== session.options.userId)
      .map((u) => u.user_name).join(", ");
  }

  function entryRow(entry) {
    const row = document.createElement("div");
    row.className = "entry";
    row.dataset.entryId = entry.id;
    row.dataset.pending = entry.pending ? "true" : "false";
    const input = document.createElement("input");
    input.value = entry.title;
    input.className = "title";
    input.setAttribute("aria-label", t("plans.meal_title"));
    input.addEventListener("focus", () => { focused = entry.id; session.focus(entry.id); });
    input.addEventListener("blur", () => { focused = null; session.focus(null); });
    input.addEventListener("change", () => {
      const current = session.plan.entries.find((e) => e.id === entry.id);
      if (current) session.update(current, { title: input.value });
    });
    const remove = document.createElement("button");
    remove.textContent = "×";
    remove.className = "remove";
    remove.setAttribute("aria-label", t("plans.remove", { title: entry.title }));
    remove.addEventListener("click", () => {
      const current = session.plan.entries.find((e) => e.id === entry.id);
      if (current) session.remove(current);
    });
    const editors = document.createElement("span");
    editors.className = "who";
    editors.textContent = entry.id > 0 ? who(entry.id) : "";
    row.append(input, remove, editors);
    return row;
  }

  function render() {
    const plan = session.plan;
    $("plan-title").textContent = plan.title + " (v" + plan.version + ")";
    $("plan-presence").textContent = session.presence.users.map((u) => u.user_name).join(", ");
    const waiting = session.outbox.length;
    $("plan-pending").textContent = waiting ? t("plans.waiting", { count: waiting }) : t("plans.saved");
    $("plan-pending").dataset.count = String(waiting);
    const grid = $("plan-grid");
    const active = document.activeElement;
    if (active && active.closest && active.closest("#plan-grid")) return;  // never under the cursor
    grid.textContent = "";
    const head = grid.insertRow();
    head.insertCell().textContent = "";
    ITCookPlans.MEALS.forEach((meal) => { head.insertCell().textContent = t("plans.meal." + meal); });
    const entries = session.view();
    days(plan.week_start).forEach((day) => {
      const row = grid.insertRow();
      row.insertCell().textContent = I18N.formatDate(day, { weekday: "short", day: "numeric", month: "short" });
      ITCookPlans.MEALS.forEach((meal) => {
        const cell = row.insertCell();
        cell.dataset.date = day;
        cell.dataset.meal = meal;
        entries.filter((e) => e.date === day && e.meal === meal).forEach((e) => cell.append(entryRow(e)));
        const add = document.createElement("input");
        add.className = "add";
        add.placeholder = t("plans.add");
        add.setAttribute("aria-label", t("plans.add_to", { day, meal: t("plans.meal." + meal) }));
        add.addEventListener("keydown", (event) => {
          if (event.key === "Enter" && add.value.trim()) {
            const title = add.value.trim();
            add.value = "";
            add.blur();
            session.add(day, meal, title);
          }
        });
        cell.append(add);
      });
    });
    const list = $("plan-shopping");
    list.textContent = "";
    ((session.shopping && session.shopping.items) || []).forEach((item) => {
      const li = document.createElement("li");
      li.dataset.name = item.name;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = item.checked;
      box.addEventListener("change", () => session.check(item.name, box.checked));
      box.setAttribute("aria-label", item.name);
      li.append(box, " " + item.name + " — " + (item.to_buy == null ? t("plans.to_taste") : item.to_buy + " " + item.unit));
      list.append(li);
    });
  }

  /** The Monday of this week (local time), as YYYY-MM-DD: a new plan's week_start. */
  function thisMonday() {
    const day = new Date();
    day.setDate(day.getDate() - ((day.getDay() + 6) % 7));
    const pad = (n) => String(n).padStart(2, "0");
    return day.getFullYear() + "-" + pad(day.getMonth() + 1) + "-" + pad(day.getDate());
  }

  /** Without ?plan=: the user's plans (their own and their groups'), and a form for a new one. */
  async function pick(token) {
    const headers = { Authorization: "Bearer " + token, "Content-Type": "application/json" };
    const response = await fetch("/api/v1/plans", { headers });
    const data = await response.json();
    if (!response.ok) { $("plan-notice").textContent = data.error.message; return; }
    const list = $("plans-list");
    list.replaceChildren();
    (data.items || []).forEach((plan) => {
      const link = document.createElement("a");
      link.href = "?plan=" + plan.id;
      link.textContent = t("plans.week_of", { title: plan.title, week: plan.week_start });
      const li = document.createElement("li");
      li.append(link);
      list.append(li);
    });
    $("plans-empty").hidden = list.children.length > 0;
    $("plans-login").hidden = true;
    $("plans-picker").hidden = false;
    $("plans-new").onsubmit = async (event) => {
      event.preventDefault();
      const made = await fetch("/api/v1/plans", { method: "POST", headers,
        body: JSON.stringify({ title: $("plans-new-title").value, week_start: thisMonday() }) });
      const plan = await made.json();
      if (!made.ok) { $("plan-notice").textContent = plan.error.message; return; }
      location.search = "?plan=" + plan.id;
    };
  }

  async function start(token, user) {
    if (!planId) { await pick(token); return; }
    const rt = new ITCookRealtime({ token, channels: ["plan:" + planId] });
    session = new ITCookPlans({ planId, userId: user.id, token, realtime: rt, onChange: render,
      onConflict: (notice) => {
        $("plan-notice").textContent = notice.kind === "conflict"
          ? (notice.reason === "removed" ? t("plans.conflict_removed")
            : t("plans.conflict_replaced", { current: JSON.stringify(notice.current) }))
          : t("plans.refused", { message: notice.message });
      } });
    window.planSession = session;
    rt.connect();
    await session.load();
    await session.loadShopping();
    $("plans-login").hidden = true;
    $("plans-main").hidden = false;
    window.addEventListener("offline", () => { $("plan-offline").textContent = t("plans.offline"); });
    window.addEventListener("online", () => { $("plan-offline").textContent = ""; });
    document.addEventListener("focusout", () => setTimeout(render, 0));
  }

  $("plans-login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("plans-username").value, password: $("plans-password").value }) });
    const data = await response.json();
    if (!response.ok) { $("plan-notice").textContent = data.error.message; return; }
    sessionStorage.setItem("itcook.plans.login", JSON.stringify({ token: data.access_token, user: data.user }));
    start(data.access_token, data.user);
  });

  $("lang-select").addEventListener("change", () => I18N.setLang($("lang-select").value));
  window.addEventListener("itcook:lang", () => { if (session) render(); });
  I18N.ready.then(() => {
    $("lang-select").value = I18N.lang;
    const saved = sessionStorage.getItem("itcook.plans.login");
    if (saved) {
      const login = JSON.parse(saved);
      start(login.token, login.user);
    }
  });
})();
