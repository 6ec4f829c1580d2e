/**
 * The demo page's Nearby panel: set my area (the browser's location, or coordinates typed in),
 * see open offers near me with distance and pickup time, offer food (my expiring fridge items
 * too), claim, and watch offers appear and get taken live (NearbyOffer, NearbyOfferTaken,
 * OfferClaimed). Self-contained: demo.js announces its real-time client and REST helper with an
 * `itcook:ready` event and its logout with `itcook:logout`. No map; everything the server sends
 * is written with textContent. Coordinates shown are the server's coarsened ones (~500 m).
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const I18N = window.ITCookI18n;
  const t = (key, params) => (I18N ? I18N.t(key, params) : key);
  const state = { api: null, offs: [], area: null, expiring: [] };

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text != null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function say(text, level) {
    const status = $("nearby-status");
    status.textContent = text;
    status.dataset.level = level || "info";
  }

  const fail = (err) => say(err.message, "error");

  function pickupText(iso) {
    const when = new Date(iso);
    return t("nearby.pickup_until", { time: when.toLocaleTimeString(I18N ? I18N.lang : [], { hour: "2-digit", minute: "2-digit" }) });
  }

  function offerItem(offer) {
    const existing = document.querySelector(`#nearby-offers li[data-offer-id="${offer.offer_id}"]`);
    if (existing) return existing;
    const li = el("li", null, "fresh");
    li.dataset.offerId = String(offer.offer_id);
    li.dataset.status = "open";
    li.append(el("b", offer.title, "title"));
    li.append(el("span", " · " + offer.by_name + " · " + t("nearby.km", { km: Number(offer.distance_km).toFixed(1) }) +
      " · " + pickupText(offer.pickup_until), "meta"));
    const status = el("span", "", "state");
    li.append(status);
    expireAt(offer.offer_id, offer.pickup_until);
    if (offer.mine) {
      li.dataset.mine = "true";
      status.textContent = " · " + t("nearby.yours");
    } else {
      const claim = el("button", t("nearby.claim"), "secondary claim");
      claim.type = "button";
      claim.addEventListener("click", () => {
        claim.disabled = true;
        state.api("POST", "/nearby/offers/" + offer.offer_id + "/claim")
          .then(() => setStatus(offer.offer_id, "claimed", t("nearby.claimed_by_you")))
          .catch((err) => claimFailed(offer.offer_id, claim, err));
      });
      li.append(claim);
    }
    return li;
  }

  /** At the end of its pickup window an offer still open here shows expired, claimable no more. */
  function expireAt(offerId, iso) {
    const left = Date.parse(iso) - Date.now();
    if (!(left < 2 ** 31)) return;  // beyond setTimeout's range (the server allows 72 h)
    setTimeout(() => {
      const li = document.querySelector(`#nearby-offers li[data-offer-id="${offerId}"]`);
      if (li && li.dataset.status === "open") setStatus(offerId, "expired", t("nearby.expired"));
    }, Math.max(0, left));
  }

  /** A refused claim: show what the offer became (taken, expired), or let the user try again. */
  async function claimFailed(offerId, button, err) {
    fail(err);
    const now = await state.api("GET", "/nearby/offers/" + offerId).catch(() => null);
    if (now && now.status === "claimed") setStatus(offerId, "taken", t("nearby.taken"));
    else if (now && now.status === "expired") setStatus(offerId, "expired", t("nearby.expired"));
    else button.disabled = false;  // still open (rate limited, offline…)
  }

  function addOffer(offer, fresh) {
    const list = $("nearby-offers");
    const li = offerItem(offer);
    if (fresh) list.prepend(li); else list.append(li);
    $("nearby-empty").hidden = list.children.length > 0;
  }

  function setStatus(offerId, status, text) {
    const li = document.querySelector(`#nearby-offers li[data-offer-id="${offerId}"]`);
    if (!li) return;
    li.dataset.status = status;
    li.querySelector(".state").textContent = " · " + text;
    const claim = li.querySelector("button.claim");
    if (claim) claim.remove();
  }

  function showArea(area) {
    state.area = area;
    $("nearby-area-state").textContent = area
      ? t("nearby.area", { lat: area.approx_lat.toFixed(3), lon: area.approx_lon.toFixed(3), km: area.radius_km })
      : t("nearby.not_opted_in");
    $("nearby-optout").hidden = !area;
  }

  async function loadOffers() {
    $("nearby-offers").replaceChildren();
    $("nearby-empty").hidden = false;
    if (!state.area) return;
    const q = "?lat=" + state.area.approx_lat + "&lon=" + state.area.approx_lon + "&radius_km=" + state.area.radius_km;
    const answer = await state.api("GET", "/nearby/offers" + q);
    answer.items.forEach((o) => addOffer(Object.assign({ offer_id: o.id }, o), false));
  }

  async function loadArea() {
    try {
      showArea(await state.api("GET", "/nearby/area"));
    } catch (err) {
      showArea(null);  // 404 not_opted_in
    }
    await loadOffers();
  }

  /** The point in the form; an offer made with the form empty is at my area's (coarsened) centre. */
  function point(orArea) {
    if ($("nearby-lat").value === "" || $("nearby-lon").value === "") {
      if (orArea && state.area) return { lat: state.area.approx_lat, lon: state.area.approx_lon };
      throw new Error(t("nearby.need_point"));
    }
    return { lat: Number($("nearby-lat").value), lon: Number($("nearby-lon").value) };
  }

  async function saveArea() {
    const area = await state.api("PUT", "/nearby/area",
      Object.assign(point(), { radius_km: Number($("nearby-radius").value) }));
    showArea(area);
    say(t("nearby.saved"), "ok");
    await loadOffers();
  }

  async function offer(title, itemIds) {
    const hours = Number($("nearby-hours").value);
    const until = new Date(Date.now() + hours * 3600 * 1000).toISOString();
    const body = Object.assign(point(true), { title, pickup_until: until });
    if (itemIds && itemIds.length) body.fridge_item_ids = itemIds;
    const made = await state.api("POST", "/nearby/offers", body);
    addOffer({ offer_id: made.id, title: made.title, by_name: t("nearby.you"), distance_km: 0,
      pickup_until: made.pickup_until, mine: true }, true);
    say(t("nearby.offered", { title: made.title }), "ok");
  }

  /** Offer fridge items: those given (an ExpiringItems notification's), else all expiring in 3 days. */
  async function offerExpiring(items) {
    if (!items) items = (await state.api("GET", "/fridge/items/expiring?days=3")).items;
    if (!items.length) throw new Error(t("nearby.nothing_expiring"));
    const names = items.slice(0, 4).map((i) => i.name).join(", ");
    await offer(names + (items.length > 4 ? " " + t("nearby.and_more") : ""), items.map((i) => i.id));
  }

  /** An ExpiringItems notification in the inbox links to offering its items nearby. */
  function linkNotification(note, li) {
    if (note.type !== "ExpiringItems" || !note.data || !Array.isArray(note.data.items)) return;
    const button = el("button", t("nearby.offer_these"), "link offer-nearby");
    button.type = "button";
    button.addEventListener("click", () => {
      button.disabled = true;
      $("nearby").scrollIntoView({ block: "nearest" });
      offerExpiring(note.data.items).catch((err) => { button.disabled = false; fail(err); });
    });
    li.append(button);
  }

  function useLocation() {
    if (!navigator.geolocation) return say(t("nearby.no_geolocation"), "error");
    say(t("nearby.asking"));
    navigator.geolocation.getCurrentPosition((pos) => {
      $("nearby-lat").value = pos.coords.latitude.toFixed(5);
      $("nearby-lon").value = pos.coords.longitude.toFixed(5);
      say(t("nearby.located"));
    }, (err) => say(t("nearby.no_location", { error: err.message }), "error"),
    { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 });
  }

  function ready(client, api) {
    state.api = api;
    state.offs.forEach((off) => off());
    state.offs = [
      client.on("NearbyOffer", (d) => {
        addOffer(d, true);
        say(t("nearby.new_offer", { title: d.title, km: d.distance_km }), "ok");
      }),
      client.on("NearbyOfferTaken", (d) => {
        // The claimer hears it too (its other pages): "claimed by you" stays.
        const li = document.querySelector(`#nearby-offers li[data-offer-id="${d.offer_id}"]`);
        if (li && li.dataset.status !== "claimed") setStatus(d.offer_id, "taken", t("nearby.taken"));
      }),
      client.on("OfferClaimed", (d) => {
        setStatus(d.offer_id, "claimed", t("nearby.claimed_by", { name: d.by_name }));
        say(t("nearby.claimed_yours", { name: d.by_name }), "ok");
      }),
      client.on("ExpiringItems", (d) => {
        state.expiring = d.items;
        $("nearby-offer-expiring").textContent = t("nearby.offer_n", { count: d.items.length });
      }),
    ];
    $("nearby").hidden = false;
    // Opened from a Nearby (or ExpiringItems) push: the panel was hidden when the browser looked.
    if (location.hash === "#nearby") $("nearby").scrollIntoView();
    loadArea().catch(fail);
  }

  window.addEventListener("itcook:ready", (event) => ready(event.detail.client, event.detail.api));
  window.addEventListener("itcook:notification", (event) =>
    linkNotification(event.detail.notification, event.detail.element));
  window.addEventListener("itcook:lang", () => { if (state.api) showArea(state.area); });
  window.addEventListener("itcook:logout", () => {
    state.offs.forEach((off) => off());
    state.offs = [];
    state.api = null;
    state.expiring = [];
    $("nearby").hidden = true;
    $("nearby-offers").replaceChildren();
  });

  document.addEventListener("DOMContentLoaded", () => {
    $("nearby-area-form").addEventListener("submit", (event) => {
      event.preventDefault();
      saveArea().catch(fail);
    });
    $("nearby-locate").addEventListener("click", useLocation);
    $("nearby-optout").addEventListener("click", () => {
      state.api("DELETE", "/nearby/area").then(() => { showArea(null); return loadOffers(); })
        .then(() => say(t("nearby.opted_out")), fail);
    });
    $("nearby-offer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      offer($("nearby-title").value.trim()).then(() => {
        $("nearby-title").value = "";
        $("nearby-title").dispatchEvent(new Event("input"));  // its counter
      }).catch(fail);
    });
    $("nearby-offer-expiring").addEventListener("click", () =>
      offerExpiring(state.expiring.length ? state.expiring : null).catch(fail));
  });
})();
