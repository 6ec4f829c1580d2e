/**
 * The pages' languages: `window.ITCookI18n = {lang, t(key, params?), apply(root?), ready}`.
 *
 * Catalogs are flat JSON (`static/i18n/<lang>.json`, `{"ns.key": "text {param}"}`), English
 * being the fallback for a key a catalog lacks. The language is the user's saved choice
 * (localStorage, which a page sets from the user's server setting once logged in) else the
 * browser's (`navigator.languages`: ru* → ru) else English.
 *
 * Markup: `data-i18n="ns.key"` sets textContent; `data-i18n-attr="placeholder:ns.key,aria-label:ns.k2"`
 * sets attributes. `t(key, {count})` picks `key.one/few/many/other` by Intl.PluralRules.
 * A language change re-applies the document and dispatches `itcook:lang` on window.
 * A `<select data-i18n-switch>` of language codes is a switch that needs no page script.
 */
(function () {
  "use strict";

  const SUPPORTED = ["en", "ru"];
  const FALLBACK = "en";
  const STORE = "itcook.lang";
  const BASE = "/static/i18n/";
  const catalogs = {};  // lang -> {key: text}, once loaded
  const loading = {};  // lang -> Promise of its catalog

  function saved() {
    try {
      const value = localStorage.getItem(STORE);
      return SUPPORTED.indexOf(value) >= 0 ? value : null;
    } catch (err) {
      return null;  // storage blocked: the browser's language then
    }
  }

  /** The browser's first supported language, else English. */
  function fromBrowser() {
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (const tag of langs) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (SUPPORTED.indexOf(base) >= 0) return base;
    }
    return FALLBACK;
  }

  function load(lang) {
    if (!loading[lang]) {
      loading[lang] = fetch(BASE + lang + ".json", { cache: "no-cache" })
        .then((r) => (r.ok ? r.json() : {}))
        .catch(() => ({}))  // a page still works in its own (English) text
        .then((data) => { catalogs[lang] = data; return data; });
    }
    return loading[lang];
  }

  function lookup(key) {
    const own = catalogs[I18n.lang];
    if (own && Object.prototype.hasOwnProperty.call(own, key)) return own[key];
    const base = catalogs[FALLBACK];
    if (base && Object.prototype.hasOwnProperty.call(base, key)) return base[key];
    return null;
  }

  function fill(text, params) {
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  const I18n = {
    lang: saved() || fromBrowser(),
    supported: SUPPORTED.slice(),
    ready: null,

    /** The text of `key` in the current language (English if missing, else the key itself). */
    t(key, params) {
      let text = null;
      if (params && typeof params.count === "number") {
        const form = new Intl.PluralRules(I18n.lang).select(params.count);
        text = lookup(key + "." + form);
        if (text == null) text = lookup(key + ".other");
      }
      if (text == null) text = lookup(key);
      if (text == null) return key;
      if (params && typeof params.count === "number" && !("n" in params)) {
        params = Object.assign({ n: new Intl.NumberFormat(I18n.lang).format(params.count) }, params);
      }
      return fill(text, params);
    },

    /** Translate every `[data-i18n]` / `[data-i18n-attr]` element under `root` (the document). */
    apply(root) {
      const scope = root || document;
      const nodes = [];
      if (scope.nodeType === 1 && (scope.hasAttribute("data-i18n") || scope.hasAttribute("data-i18n-attr"))) {
        nodes.push(scope);
      }
      scope.querySelectorAll("[data-i18n], [data-i18n-attr]").forEach((node) => nodes.push(node));
      nodes.forEach((node) => {
        const key = node.getAttribute("data-i18n");
        if (key) {
          const text = lookup(key);
          if (text != null) node.textContent = text;
        }
        const attrs = node.getAttribute("data-i18n-attr");
        if (attrs) {
          attrs.split(",").forEach((pair) => {
            const at = pair.indexOf(":");
            if (at < 0) return;
            const text = lookup(pair.slice(at + 1).trim());
            if (text != null) node.setAttribute(pair.slice(0, at).trim(), text);
          });
        }
      });
      if (!root) {
        document.documentElement.lang = I18n.lang;
        const title = lookup(document.documentElement.getAttribute("data-i18n-title") || "");
        if (title != null) document.title = title;
      }
    },

    /** Switch to `lang` (saved as the user's choice unless `remember` is false); resolves when shown. */
    setLang(lang, remember) {
      if (SUPPORTED.indexOf(lang) < 0) lang = FALLBACK;
      if (remember !== false) {
        try { localStorage.setItem(STORE, lang); } catch (err) { /* not remembered */ }
      }
      const changed = lang !== I18n.lang;
      I18n.lang = lang;
      return Promise.all([load(FALLBACK), load(lang)]).then(() => {
        I18n.apply();
        if (changed) window.dispatchEvent(new CustomEvent("itcook:lang", { detail: { lang } }));
        return lang;
      });
    },

    /** "5 minutes ago" / "через 2 дня" for a date (ISO string, Date or ms). */
    relativeTime(when, now) {
      const then = when instanceof Date ? when.getTime() : new Date(when).getTime();
      const seconds = Math.round((then - (now == null ? Date.now() : now)) / 1000);
      const format = new Intl.RelativeTimeFormat(I18n.lang, { numeric: "auto" });
      const steps = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
        ["hour", 3600], ["minute", 60]];
      for (const [unit, size] of steps) {
        if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
      }
      return format.format(seconds, "second");
    },

    /** A date (YYYY-MM-DD or ISO time) the local way. */
    formatDate(value, options) {
      const date = /^\d{4}-\d{2}-\d{2}$/.test(String(value)) ? new Date(value + "T00:00:00") : new Date(value);
      return new Intl.DateTimeFormat(I18n.lang, options || { dateStyle: "medium" }).format(date);
    },

    /** A number the local way. */
    formatNumber(value, options) {
      return new Intl.NumberFormat(I18n.lang, options).format(value);
    },
  };

  const domReady = document.readyState === "loading"
    ? new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve, { once: true }))
    : Promise.resolve();
  I18n.ready = Promise.all([load(FALLBACK), load(I18n.lang), domReady]).then(() => {
    I18n.apply();
    document.querySelectorAll("select[data-i18n-switch]").forEach((select) => {
      select.value = I18n.lang;
      select.addEventListener("change", () => I18n.setLang(select.value));
      window.addEventListener("itcook:lang", () => { select.value = I18n.lang; });
    });
    return I18n;
  });
  window.ITCookI18n = I18n;
})();
