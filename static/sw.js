/* IT Cook Service Worker: shows Web Push notifications and opens the app when one is clicked.
 *
 * The server pushes (encrypted, RFC 8291) a JSON payload for personal events of a user who has
 * no live connection:
 *   {"title": "New follower", "body": "boris follows you now", "type": "NewFollower",
 *    "id": 1042, "tag": "itcook-1042", "url": "/"}
 * `id` is the event id, which is also the notification's id in GET /api/v1/notifications.
 * Register it with navigator.serviceWorker.register("/static/sw.js"); its scope is /static/,
 * which is all it needs: push events reach it whatever page is open.
 */
"use strict";

const DEFAULT_TITLE = "IT Cook";

self.addEventListener("install", () => {
  self.skipWaiting(); // a new version takes over at once: it only shows notifications
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

function readPayload(data) {
  if (!data) return {};
  try {
    const payload = data.json();
    return payload && typeof payload === "object" ? payload : {};
  } catch (_) {
    return { body: data.text() }; // not JSON: show the text as it is
  }
}

self.addEventListener("push", (event) => {
  const payload = readPayload(event.data);
  const title = typeof payload.title === "string" && payload.title ? payload.title : DEFAULT_TITLE;
  const options = {
    body: typeof payload.body === "string" ? payload.body : "",
    tag: typeof payload.tag === "string" ? payload.tag : undefined,
    timestamp: Date.now(),
    data: {
      url: typeof payload.url === "string" ? payload.url : "/",
      type: payload.type || null,
      id: payload.id == null ? null : payload.id,
    },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

// The app's own pages only: a payload cannot send the user to another site.
function appUrl(path) {
  const url = new URL(path || "/", self.location.origin);
  return url.origin === self.location.origin ? url.href : new URL("/", self.location.origin).href;
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const target = appUrl(data.url);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    // Prefer a window already on the target page, then any window of the app.
    const open = windows.find((client) => client.url === target) ||
      windows.find((client) => new URL(client.url).origin === self.location.origin);
    if (open) {
      open.postMessage({ type: "notificationclick", id: data.id, eventType: data.type });
      await open.focus();
      return;
    }
    if (self.clients.openWindow) await self.clients.openWindow(target);
  })());
});
