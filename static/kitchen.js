/**
 * The web client's kitchen panels: the fridge (add with an expiry date, list, delete, what
 * expires soon), goals (progress bars, add progress), recipes (from chosen ingredients or the
 * fridge, the full recipe) and the admin's system notice. Self-contained like nearby.js:
 * demo.js announces its client, REST helper and toast with `itcook:ready`, its logout with
 * `itcook:logout`. Every server error is shown at its form; everything sent by the server is
 * written with textContent.
 */
(function () {
  "use strict";

  const I18N = window.ITCookI18n;
  const t = (key, params) => I18N.t(key, params);
  const $ = (id) => document.getElementById(id);
  const SOON_DAYS = 3;
  let ctx = null;  // {client, api, toast, user, offs, fridge, goals, recipes, jobs, shown}

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  /** Empty inputs, telling their counters. */
  function clear(ids) {
    ids.forEach((id) => {
      $(id).value = "";
      $(id).dispatchEvent(new Event("input"));
    });
  }

  function showError(name, err) {
    $(name + "-error").textContent = err ? err.message : "";
  }

  /** Run a form's action: errors go to its error line, the button is busy meanwhile. */
  function submit(form, name, action) {
    $(form).addEventListener("submit", (event) => {
      event.preventDefault();
      if (!ctx) return;
      const button = event.submitter || $(form).querySelector("button[type=submit]");
      showError(name, null);
      if (button) button.disabled = true;
      Promise.resolve().then(action).catch((err) => showError(name, err))
        .finally(() => { if (button) button.disabled = false; });
    });
  }

  function isoDate(offsetDays) {
    const d = new Date(Date.now() + offsetDays * 86400000);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  // -- fridge ------------------------------------------------------------------------------------

  async function loadFridge() {
    const mine = ctx;
    const [all, soon] = await Promise.all([
      ctx.api("GET", "/fridge/items?per_page=100"),
      ctx.api("GET", "/fridge/items/expiring?days=" + SOON_DAYS),
    ]);
    if (mine !== ctx) return;
    ctx.fridge = all.items;
    ctx.expiring = soon.items;
    renderFridge();
  }

  function fridgeItem(item) {
    const li = el("li");
    li.dataset.itemId = String(item.id);
    li.dataset.soon = String(item.days_left >= 0 && item.days_left <= SOON_DAYS);
    li.dataset.expired = String(item.days_left < 0);
    const amount = item.quantity != null ? " · " + I18N.formatNumber(item.quantity) + (item.unit ? " " + item.unit : "") : "";
    li.append(el("span", item.name + amount, "name"), el("span", daysText(item.days_left), "when"));
    const remove = el("button", t("fridge.delete"), "link delete");
    remove.type = "button";
    remove.setAttribute("aria-label", t("fridge.delete_item", { name: item.name }));
    remove.addEventListener("click", () => {
      remove.disabled = true;
      ctx.api("DELETE", "/fridge/items/" + item.id).then(loadFridge)
        .catch((err) => { remove.disabled = false; showError("fridge", err); });
    });
    li.append(remove);
    return li;
  }

  function daysText(days) {
    if (days < 0) return t("fridge.expired", { count: -days });
    if (days === 0) return t("fridge.today");
    return t("fridge.days_left", { count: days });
  }

  function renderFridge() {
    $("fridge-items").replaceChildren(...ctx.fridge.map(fridgeItem));
    $("fridge-expiring").replaceChildren(...ctx.expiring.map(fridgeItem));
    $("fridge-empty").hidden = ctx.fridge.length > 0;
    $("fridge-expiring-empty").hidden = ctx.expiring.length > 0;
  }

  async function addFridgeItem() {
    const quantity = $("fridge-quantity").value;
    const body = { name: $("fridge-name").value, expires_on: $("fridge-expires").value };
    if (quantity !== "") body.quantity = Number(quantity);
    if ($("fridge-unit").value.trim()) body.unit = $("fridge-unit").value;
    await ctx.api("POST", "/fridge/items", body);
    clear(["fridge-name", "fridge-quantity", "fridge-unit"]);
    await loadFridge();
    $("fridge-name").focus();
  }

  // -- goals -------------------------------------------------------------------------------------

  async function loadGoals() {
    const mine = ctx;
    const page = await ctx.api("GET", "/goals?per_page=100");
    if (mine !== ctx) return;
    ctx.goals = page.items;
    renderGoals();
  }

  function goalItem(goal) {
    const li = el("li");
    li.dataset.goalId = String(goal.id);
    li.dataset.achieved = String(goal.achieved);
    const unit = goal.unit ? " " + goal.unit : "";
    const title = el("b", goal.title, "title");
    const bar = el("progress");
    bar.max = goal.target_value;
    bar.value = Math.min(goal.current_value, goal.target_value);
    bar.id = "goal-bar-" + goal.id;
    const label = el("span", t("goals.progress", { current: I18N.formatNumber(goal.current_value),
      target: I18N.formatNumber(goal.target_value), unit }), "progress-text");
    label.id = "goal-label-" + goal.id;
    bar.setAttribute("aria-labelledby", label.id);
    li.append(title, bar, label);
    if (!goal.achieved) {
      const form = el("form", null, "row");
      const input = el("input");
      input.type = "number";
      input.min = "0";
      input.step = "any";
      input.required = true;
      input.className = "goal-value";
      input.setAttribute("aria-label", t("goals.add_progress_to", { title: goal.title }));
      const go = el("button", t("goals.add_progress"));
      go.type = "submit";
      const error = el("span", "", "error");
      error.setAttribute("role", "alert");
      form.append(input, go);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        go.disabled = true;
        error.textContent = "";
        ctx.api("POST", "/goals/" + goal.id + "/progress", { value: Number(input.value) })
          .then(loadGoals).catch((err) => { error.textContent = err.message; go.disabled = false; });
      });
      li.append(form, error);
    } else {
      li.append(el("span", t("goals.achieved"), "hint"));
    }
    return li;
  }

  function renderGoals() {
    $("goal-list").replaceChildren(...ctx.goals.map(goalItem));
    $("goals-empty").hidden = ctx.goals.length > 0;
  }

  async function addGoal() {
    const body = { title: $("goal-title").value, target_value: Number($("goal-target").value || "0") };
    if ($("goal-unit").value.trim()) body.unit = $("goal-unit").value;
    await ctx.api("POST", "/goals", body);
    clear(["goal-title", "goal-target", "goal-unit"]);
    await loadGoals();
  }

  // -- recipes -----------------------------------------------------------------------------------

  async function loadRecipes() {
    const mine = ctx;
    const page = await ctx.api("GET", "/recipes?per_page=20");
    if (mine !== ctx) return;
    ctx.recipes = page.items;
    renderRecipes();
  }

  function renderRecipes() {
    $("recipe-list").replaceChildren(...ctx.recipes.map((recipe) => {
      const li = el("li");
      li.dataset.recipeId = String(recipe.id);
      const a = el("a", recipe.title, "name");
      a.href = "#recipe-" + recipe.id;
      li.append(a);
      return li;
    }));
    $("recipes-empty").hidden = ctx.recipes.length > 0;
  }

  function showRecipe(recipe) {
    ctx.shown = recipe;
    $("recipe-view").hidden = false;
    $("recipe-view").dataset.recipeId = String(recipe.id);
    $("recipe-view-title").textContent = recipe.title;
    $("recipe-view-ingredients").replaceChildren(...recipe.ingredients.map((i) => {
      const amount = i.amount != null ? I18N.formatNumber(i.amount) + (i.unit ? " " + i.unit : "") + " " : "";
      return el("li", amount + i.name);
    }));
    $("recipe-view-steps").replaceChildren(...recipe.steps.map((step) => el("li", step)));
  }

  async function openRecipe(id) {
    const recipe = await ctx.api("GET", "/recipes/" + id);
    showRecipe(recipe);
    $("recipe-view").scrollIntoView({ block: "nearest" });
  }

  function recipeStatus(key, params) {
    $("recipe-status").textContent = key ? t(key, params) : "";
  }

  async function generate() {
    const source = document.querySelector('input[name="recipe-source"]:checked').value;
    let body;
    if (source === "list") {
      const names = $("recipe-ingredients").value.split(/[,\n;]/).map((s) => s.trim()).filter(Boolean);
      body = { ingredients: names };  // empty: the server says it needs at least one
    }
    const job = await ctx.api("POST", "/recipes/generate", body);
    ctx.jobs.add(job.job_id);
    recipeStatus("recipes.cooking");
    // The event may have come before this answer: ask once, the event handles the rest.
    const now = await ctx.api("GET", "/recipes/jobs/" + job.job_id);
    jobDone(now);
  }

  function jobDone(job) {
    if (!ctx || !ctx.jobs.has(job.job_id)) return;
    if (job.status === "done") {
      ctx.jobs.delete(job.job_id);
      recipeStatus(null);
      openRecipe(job.recipe_id).then(loadRecipes).catch((err) => showError("recipe", err));
    } else if (job.status === "failed") {
      ctx.jobs.delete(job.job_id);
      recipeStatus(null);
      showError("recipe", new Error(t("recipes.failed", { error: job.error || "" })));
    }
  }

  // -- admin notice ------------------------------------------------------------------------------

  async function sendNotice() {
    const to = $("admin-to").value;
    const body = { title: $("admin-title").value, message: $("admin-message").value, level: $("admin-level").value };
    if (to === "me") body.user_id = ctx.user.id;
    if (to === "user") body.user_id = Number($("admin-user-id").value);
    await ctx.api("POST", "/admin/notifications", body);
    $("admin-status").textContent = t(to === "all" ? "admin.sent_all" : "admin.sent");
  }

  // -- wiring ------------------------------------------------------------------------------------

  function ready(detail) {
    if (ctx) ctx.offs.forEach((off) => off());
    ctx = { client: detail.client, api: detail.api, toast: detail.toast, user: detail.user, offs: [],
      fridge: [], expiring: [], goals: [], recipes: [], jobs: new Set(), shown: null };
    const on = (type, handler) => ctx.offs.push(detail.client.on(type, handler));
    on("ExpiringItems", (d) => {
      ctx.toast(t("toast.fridge"), t("toast.fridge_body", { items: d.items.map((i) => i.name).join(", "), count: d.days }), "warning");
      loadFridge().catch((err) => showError("fridge", err));
    });
    on("GoalAchieved", (d) => {
      ctx.toast(t("toast.goal"), d.title, "success");
      loadGoals().catch((err) => showError("goal", err));
    });
    on("RecipeGenerated", (d) => {
      ctx.toast(t("toast.recipe"), d.title, "success");
      if (ctx.jobs.has(d.job_id)) jobDone({ job_id: d.job_id, status: "done", recipe_id: d.recipe_id });
      else loadRecipes().catch((err) => showError("recipe", err));
    });
    on("RecipeFailed", (d) => {
      ctx.toast(t("toast.recipe_failed"), d.error, "error");
      jobDone({ job_id: d.job_id, status: "failed", error: d.error });
    });
    $("admin").hidden = detail.user.role !== "admin";
    $("fridge-expires").value = isoDate(1);
    const fail = (name) => (err) => showError(name, err);
    loadFridge().catch(fail("fridge"));
    loadGoals().catch(fail("goal"));
    loadRecipes().catch(fail("recipe"));
  }

  function logout() {
    if (ctx) ctx.offs.forEach((off) => off());
    ctx = null;
    ["fridge-items", "fridge-expiring", "goal-list", "recipe-list", "recipe-view-ingredients",
      "recipe-view-steps"].forEach((id) => $(id).replaceChildren());
    ["fridge-empty", "fridge-expiring-empty", "goals-empty", "recipes-empty"].forEach((id) => { $(id).hidden = false; });
    ["fridge", "goal", "recipe", "admin"].forEach((name) => showError(name, null));
    $("recipe-view").hidden = true;
    $("recipe-view-title").textContent = "";
    $("recipe-status").textContent = "";
    $("admin-status").textContent = "";
    $("admin").hidden = true;
    clear(["fridge-name", "fridge-quantity", "fridge-unit", "goal-title", "goal-target", "goal-unit",
      "recipe-ingredients", "admin-title", "admin-message", "admin-user-id"]);
  }

  function relabel() {
    if (!ctx) return;
    renderFridge();
    renderGoals();
    if (ctx.shown) showRecipe(ctx.shown);
  }

  window.addEventListener("itcook:ready", (event) => ready(event.detail));
  window.addEventListener("itcook:logout", logout);
  window.addEventListener("itcook:lang", relabel);
  window.addEventListener("itcook:open-recipe", (event) => {
    if (ctx) openRecipe(event.detail.id).catch((err) => showError("recipe", err));
  });
  submit("fridge-form", "fridge", addFridgeItem);
  submit("goal-form", "goal", addGoal);
  submit("recipe-form", "recipe", generate);
  submit("admin-form", "admin", sendNotice);
  $("fridge-notify").addEventListener("click", () => {
    if (ctx) ctx.api("POST", "/fridge/notify-expiring?days=" + SOON_DAYS).catch((err) => showError("fridge", err));
  });
  $("recipe-ingredients").addEventListener("focus", () => {
    document.querySelector('input[name="recipe-source"][value="list"]').checked = true;
  });
})();
