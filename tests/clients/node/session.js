// One session per credential form with Node's `ws` package (an implementation independent of
// the server's): connect, subscribe, receive an event, ping/pong, close with a code.
// Usage: node session.js '{"base": "http://127.0.0.1:PORT", "token": "<access token>"}'
// Prints one JSON line per form; exits non-zero with a message on the first failure.
"use strict";
const WebSocket = require("ws");

const { base, token, forms = ["bearer", "ticket", "subprotocol"] } = JSON.parse(process.argv[2]);
const STEP_MS = 10000;
const auth = { Authorization: `Bearer ${token}` };

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function rest(method, path, body) {
  const response = await fetch(base + path, {
    method, headers: { ...auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

// Frames are queued as they arrive; next(pred) waits for the first one pred accepts.
function inbox(ws) {
  const frames = [];
  const waiters = [];
  ws.on("message", (data, isBinary) => {
    if (isBinary) throw new Error("the server sent a binary frame");
    frames.push(JSON.parse(data.toString("utf8")));
    for (const w of waiters.splice(0)) w();
  });
  return (pred, what) => withTimeout(new Promise((resolve) => {
    const look = () => {
      const i = frames.findIndex(pred);
      if (i >= 0) resolve(frames.splice(i, 1)[0]);
      else waiters.push(look);
    };
    look();
  }), what);
}

async function session(form) {
  const url = base.replace(/^http/, "ws") + "/api/v1/realtime/ws";
  let ws;
  if (form === "bearer") {
    ws = new WebSocket(url, { headers: auth });
  } else if (form === "ticket") {
    const { ticket } = await rest("POST", "/api/v1/realtime/ticket");
    ws = new WebSocket(`${url}?ticket=${encodeURIComponent(ticket)}`);
  } else {
    ws = new WebSocket(url, ["itcook.v1", `bearer.${token}`]);
  }
  const next = inbox(ws);
  await withTimeout(new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
    ws.once("unexpected-response", (_, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
  }), "open");

  ws.send(JSON.stringify({ type: "Subscribe", channels: ["community"] }));
  const subscribed = await next((f) => f.type === "Subscribed", "Subscribed");

  const content = `node ws, ${form}`;
  await rest("POST", "/api/v1/community/posts", { content });
  const event = await next((f) => f.type === "NewCommunityPost" && f.data.content === content, "event");

  const payload = Buffer.from(`ping ${form}`);
  const pong = withTimeout(new Promise((resolve) => ws.once("pong", resolve)), "pong");
  ws.ping(payload);
  const pongPayload = (await pong).toString("utf8");

  const closed = withTimeout(new Promise((resolve) => ws.once("close", (code, reason) =>
    resolve({ code, reason: reason.toString("utf8") }))), "close");
  ws.close(4000, `bye ${form}`);
  const close = await closed;
  return { form, subprotocol: ws.protocol || null, subscribed: subscribed.data.channels, event, pong: pongPayload,
           close_code: close.code, close_reason: close.reason };
}

(async () => {
  for (const form of forms) console.log(JSON.stringify(await session(form)));
})().catch((err) => {
  console.error(String(err && err.stack || err));
  process.exit(1);
});
