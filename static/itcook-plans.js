/*
 * IT Cook menu plans in the browser: an outbox of operations kept in localStorage (a closed tab
 * keeps them), sent in order with their op_id when the network is back; the plan kept current
 * from MenuPlanUpdated; presence and the shopping list. docs/plans.md is the contract.
 */
(function (root) {
  "use strict";

  const MEALS = ["breakfast", "lunch", "dinner", "snack"];

  function newOpId() {
    if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
    return "op-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  class PlanSession {
    /**
     * @param {{planId: number, userId: number, token: string, realtime: any, base?: string,
     *          storage?: Storage, onChange?: Function, onConflict?: Function}} options
     */
    constructor(options) {
      this.options = options;
      this.planId = Number(options.planId);
      this.base = (options.base || "") + "/api/v1";
      this.storage = options.storage || root.localStorage;
      this.key = "itcook.plans.outbox." + this.planId + "." + options.userId;
      this.plan = null;
      this.presence = { seq: -1, users: [] };
      this.shopping = null;
      this.flushing = false;
      this.maxSeen = 0;  // the highest version heard of (events, answers)
      this.rt = options.realtime;
      this.rt.on("MenuPlanUpdated", (data) => this._updated(data));
      this.rt.on("PlanPresence", (data) => this._presence(data));
      this.rt.on("ShoppingItemChecked", (data) => this._checked(data));
      // The stream (re)connected: what happened while it was away is read again, then the
      // outbox goes (a fresh page has no event id to resume from).
      this.rt.on("open", () => { if (this.plan) this.load(); });
      root.addEventListener("online", () => this.flush());
    }

    get outbox() {
      return JSON.parse(this.storage.getItem(this.key) || "[]");
    }

    _save(outbox) {
      this.storage.setItem(this.key, JSON.stringify(outbox));
    }

    async _fetch(method, path, body) {
      const response = await fetch(this.base + path, {
        method, headers: { "Authorization": "Bearer " + this.options.token,
                           "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body) });
      const data = await response.json();
      if (!response.ok) {
        const error = new Error((data.error && data.error.message) || response.statusText);
        error.status = response.status;
        error.code = data.error && data.error.code;
        throw error;
      }
      return data;
    }

    async load() {
      this.rt.subscribe(["plan:" + this.planId]);
      for (let tries = 0; tries < 5; tries++) {
        this.plan = await this._fetch("GET", "/plans/" + this.planId);
        // A version heard of during the read that the read predates: read again.
        if (this.plan.version >= this.maxSeen) break;
      }
      this._changed();
      this.flush();
      return this.plan;
    }

    /** Queue one operation (persisted at once), then try to send it. */
    apply(op) {
      const outbox = this.outbox;
      outbox.push({ op_id: newOpId(), ops: [op] });
      this._save(outbox);
      this._changed();
      return this.flush();
    }

    add(date, meal, title) {
      return this.apply({ op: "add", date, meal, title });
    }

    update(entry, fields) {
      return this.apply(Object.assign({ op: "update", entry_id: entry.id, base_version: entry.version }, fields));
    }

    remove(entry) {
      return this.apply({ op: "remove", entry_id: entry.id });
    }

    /** Send the outbox in order; stops at the first network failure (kept for the next try). */
    async flush() {
      if (this.flushing || !this.plan) return;
      this.flushing = true;
      try {
        for (;;) {
          const outbox = this.outbox;
          if (!outbox.length) break;
          const batch = outbox[0];
          let answer;
          try {
            answer = await this._fetch("POST", "/plans/" + this.planId + "/ops", batch);
          } catch (error) {
            if (!error.status || error.status >= 500) return;  // offline or down: retry later
            answer = null;  // refused for good (400, 403): dropped, and said so
            this._notice({ kind: "refused", message: error.message, batch });
          }
          const rest = this.outbox;
          if (rest.length && rest[0].op_id === batch.op_id) rest.shift();
          this._save(rest);
          if (answer) {
            this.maxSeen = Math.max(this.maxSeen, answer.version);
            answer.results.forEach((result, i) => {
              if (result.status === "conflict") this._notice(Object.assign({ kind: "conflict", op: batch.ops[i] }, result));
            });
          }
          this._changed();
        }
      } finally {
        this.flushing = false;
      }
      // An answered batch whose event this page missed (the stream was not open yet): read again.
      if (this.plan && this.plan.version < this.maxSeen) this.load();
    }

    _updated(data) {
      this.maxSeen = Math.max(this.maxSeen, data.version);
      if (!this.plan || data.plan_id !== this.planId || data.version <= this.plan.version) return;
      if (data.version !== this.plan.version + 1) {  // a gap: read the plan again
        this.load();
        return;
      }
      const byId = new Map(this.plan.entries.map((e) => [e.id, e]));
      data.entries.forEach((entry) => {
        if (entry.removed) byId.delete(entry.id); else byId.set(entry.id, entry);
      });
      this.plan.entries = Array.from(byId.values()).sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.id - b.id));
      this.plan.version = data.version;
      if (this.shopping) this.loadShopping();
      this._changed();
    }

    /** The entries to show: the server's, with the queued operations applied on top. */
    view() {
      if (!this.plan) return [];
      const entries = new Map(this.plan.entries.map((e) => [e.id, Object.assign({}, e)]));
      let pending = 0;
      this.outbox.forEach((batch) => batch.ops.forEach((op) => {
        if (op.op === "add") {
          pending -= 1;
          entries.set(pending, { id: pending, date: op.date, meal: op.meal, title: op.title, pending: true });
        } else if (op.op === "remove") {
          entries.delete(op.entry_id);
        } else if (entries.has(op.entry_id)) {
          const entry = entries.get(op.entry_id);
          Object.keys(op).forEach((k) => { if (!["op", "entry_id", "base_version"].includes(k)) entry[k] = op[k]; });
          entry.pending = true;
        }
      }));
      return Array.from(entries.values());
    }

    focus(entryId) {
      return this.rt.send(Object.assign({ type: "PlanFocus", plan_id: this.planId }, entryId ? { entry_id: entryId } : {}));
    }

    blur() {
      return this.rt.send({ type: "PlanBlur", plan_id: this.planId });
    }

    _presence(data) {
      if (data.plan_id !== this.planId || data.seq <= this.presence.seq) return;  // keep the newest
      this.presence = data;
      this._changed();
    }

    async loadShopping() {
      this.shopping = await this._fetch("GET", "/plans/" + this.planId + "/shopping-list");
      this._changed();
      return this.shopping;
    }

    check(name, checked) {
      return this._fetch("POST", "/plans/" + this.planId + "/shopping-list/check", { name, checked });
    }

    _checked(data) {
      if (data.plan_id !== this.planId || !this.shopping) return;
      this.shopping.items.forEach((item) => { if (item.name === data.name) item.checked = data.checked; });
      this._changed();
    }

    _notice(notice) {
      if (this.options.onConflict) this.options.onConflict(notice);
    }

    _changed() {
      if (this.options.onChange) this.options.onChange(this);
    }
  }

  PlanSession.MEALS = MEALS;
  root.ITCookPlans = PlanSession;
})(typeof window !== "undefined" ? window : globalThis);
