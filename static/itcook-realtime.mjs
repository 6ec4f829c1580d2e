// ES-module entry of the IT Cook real-time client. The code lives in itcook-realtime.js, which is
// written to run both as a classic script and as a module: importing it here defines the same
// globals a <script> tag would, and this file re-exports them. One source, no build step.
import "./itcook-realtime.js";

const { ITCookRealtime, ITCookWebSocket } = globalThis;

const { Call, CallError, Mesh, Peer } = ITCookRealtime;

export { ITCookRealtime, ITCookWebSocket, Call, CallError, Mesh, Peer };
export default ITCookRealtime;
