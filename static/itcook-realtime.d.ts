// Type declarations of the IT Cook real-time client (itcook-realtime.js / itcook-realtime.mjs).
// The wire protocol is documented in docs/realtime-protocol.md.

export type State = "idle" | "connecting" | "open" | "reconnecting" | "closed";
export type Transport = "websocket" | "sse";

/** A server frame, as received on either transport. `id` is present on durable events only. */
export interface Frame<D = Record<string, unknown>> {
  type: string;
  id?: number;
  channel?: string;
  ts: string;
  data: D;
}

export interface NewCommunityPost { post_id: number; author_id: number; author_name: string; content: string }
export interface PostLiked { post_id: number; user_id: number; user_name: string; likes_count: number }
export interface NewComment {
  comment_id: number; post_id: number; author_id: number; author_name: string; content: string;
}
export interface NewFollower { follower_id: number; follower_name: string }
export interface ExpiringItem { id: number; name: string; expires_on: string; days_left: number }
export interface ExpiringItems { items: ExpiringItem[]; days: number }
export interface GoalAchieved { goal_id: number; title: string }
export interface RecipeGenerated { job_id: string; recipe_id: number; title: string }
export interface RecipeFailed { job_id: string; error: string }
export interface SystemNotification { title: string; message: string; level: "info" | "success" | "warning" | "error" }
export interface UserTyping { post_id: number; user_id: number; user_name: string; typing: boolean }
export interface Recovery { recovered: boolean; last_event_id: number; replayed: number }
export interface ServerError { code: string; message: string; channel?: string; field?: string }
export interface ChannelList { channels: string[] }
/** `reason` is set when the server took the channels away (e.g. the user left a group). */
export interface Unsubscribed extends ChannelList { reason?: "access_revoked" }
export interface NewGroupPost { group_id: number; post_id: number; author_id: number; author_name: string; content: string }
export interface GroupInvitation { group_id: number; group_name: string; invited_by_id: number; invited_by_name: string }
/** Notifications marked read on any of the user's devices: `ids`, or all up to `up_to_id`. */
export interface NotificationsRead { ids: number[] | null; up_to_id: number | null; unread_count: number }

/** Payloads by frame type; `on()` narrows the handler's `data` with it. */
export interface EventMap {
  NewCommunityPost: NewCommunityPost;
  PostLiked: PostLiked;
  NewComment: NewComment;
  NewFollower: NewFollower;
  ExpiringItems: ExpiringItems;
  GoalAchieved: GoalAchieved;
  RecipeGenerated: RecipeGenerated;
  RecipeFailed: RecipeFailed;
  SystemNotification: SystemNotification;
  UserTyping: UserTyping;
  NewGroupPost: NewGroupPost;
  GroupInvitation: GroupInvitation;
  NotificationsRead: NotificationsRead;
  CallStarted: CallStarted;
  CallParticipantJoined: CallParticipant;
  CallParticipantLeft: CallParticipant;
  CallEnded: CallEnded;
  Signal: SignalFrame;
  Heartbeat: { ts: string };
  Subscribed: ChannelList;
  Unsubscribed: Unsubscribed;
  Error: ServerError;
  Recovery: Recovery;
}

/** Events of the client itself (not server frames). */
export interface ClientEventMap {
  open: { transport: Transport; reconnects: number };
  close: { code: number | null; reason: string; transport: Transport; wasOpen: boolean };
  statechange: StateInfo & { state: State };
  autherror: { code: string };
  error: { code: string; message: string };
}

export interface StateInfo {
  /** The open transport (only in state "open"). */
  transport: Transport | null;
  reconnects: number;
  /** Why: "client", "auth", "offline", "hidden", "unreachable", "unsupported", ... */
  reason?: string;
  /** Close code or auth error code that led here. */
  code?: number | string | null;
  /** ms until the next attempt (state "reconnecting"). */
  delay?: number;
  /** Date.now() time of the next attempt (state "reconnecting"): a page counts down to it. */
  retryAt?: number;
  attempt?: number;
  /** State "open" on EventSource although WebSocket is wanted (it kept failing). */
  fallback?: boolean;
  /** Date.now() time WebSocket is tried again (with `fallback`). */
  retryWebSocketAt?: number;
}

export interface ReconnectOptions {
  /** ms before the first retry (default 500). */
  initialDelay?: number;
  /** upper bound of the delay (default 30000). */
  maxDelay?: number;
  /** growth per failed attempt (default 2). */
  factor?: number;
  /** 0..1: a delay is reduced by up to this share at random (default 0.5). */
  jitter?: number;
  /** ms a connection must stay open before the backoff starts over (default 5000). */
  minUptime?: number;
}

export interface Options {
  /** Server origin, e.g. "https://itcook.example"; default: the page's own. */
  url?: string | null;
  /** Access token (JWT). */
  token?: string | null;
  /** Returns a (fresh) access token, e.g. through /auth/refresh; null = none available. */
  getToken?: ((info: { reason: "connect" | "auth"; code?: string }) => Promise<string | null> | string | null) | null;
  /** Called once the client gives up for lack of valid credentials (state "closed"). */
  onAuthError?: ((info: { code: string }) => void) | null;
  onStateChange?: ((state: State, info: StateInfo) => void) | null;
  /** Channels to join (default personal, community, system). */
  channels?: string[];
  /** Order of preference (default ["websocket", "sse"]). */
  transports?: Transport[];
  /** WebSocket credential: a ticket (default) or the subprotocols `itcook.v1, bearer.<jwt>`. */
  auth?: "ticket" | "subprotocol";
  /** Resume from this id on the first connection. */
  lastEventId?: number | null;
  reconnect?: ReconnectOptions;
  /** Consecutive WebSocket failures before EventSource is used (default 2). */
  fallbackAfter?: number;
  /** ms on EventSource before WebSocket is tried again, without a gap (default 60000). */
  retryWebSocketAfter?: number;
  /** ms of WebSocket silence after which it is taken for dead (default 62500; 0 = never). */
  heartbeatTimeout?: number;
  /** ms for a connection to open (default 15000). */
  connectTimeout?: number;
  /** Fresh tokens asked for in a row before giving up (default 3). */
  maxAuthRetries?: number;
  /** Disconnect while the page is hidden: true, or ms it must stay hidden first. */
  pauseWhenHidden?: boolean | number;
  /** ms between TypingStart frames for one post (default 2000). */
  typingThrottle?: number;
  /** ms without startTyping() before TypingStop is sent (default 4000). */
  typingIdle?: number;
  WebSocket?: typeof WebSocket | null;
  EventSource?: typeof EventSource | null;
  fetch?: typeof fetch;
  logger?: { debug(...args: unknown[]): void } | null;
}

export type PushErrorCode = "unsupported" | "not_configured" | "denied" | "unavailable" | "unreachable" | "server";

/** Why `enablePush()` / `disablePush()` failed. */
export class PushError extends Error {
  readonly name: "PushError";
  /** unsupported: no Service Worker or PushManager; not_configured: the server has no VAPID key
   * (503); denied: notification permission refused; unavailable: the browser could not subscribe
   * (e.g. no push service) or the worker did not install; unreachable / server: the REST call failed. */
  readonly code: PushErrorCode;
  readonly cause?: unknown;
}

export interface PushOptions {
  /** The Service Worker script (default "/static/sw.js"). */
  serviceWorkerUrl?: string;
}

// -- calls (WebRTC full mesh; SPEC §5 "Calls") ---------------------------------------------------

/** A call id: a group call's number, or "live:<id>" for a peer-to-peer broadcast. */
export type CallId = number | string;
export type SignalKind = "offer" | "answer" | "candidate";
export type MediaDirection = "sendrecv" | "sendonly" | "recvonly";

export interface CallStarted { call_id: number; group_id: number; started_by: number }
export interface CallParticipant { call_id: number; user_id: number; user_name: string }
export interface CallEnded { call_id: number }
/** A relayed signal (not durable: no `id`). `data` is an RTCSessionDescriptionInit or RTCIceCandidateInit. */
export interface SignalFrame { call_id: CallId; from: number; kind: SignalKind; data: Record<string, unknown> }
/** `GET /calls/ice-servers`, and `ice_servers` of the join answer. */
export interface IceServer { urls: string | string[]; username?: string; credential?: string }
export interface CallInfo { id: number; group_id: number; started_by: number; participants: Array<{ user_id: number; user_name: string }> }
export interface JoinAnswer { call: CallInfo; participants: Array<{ user_id: number; user_name: string }>; ice_servers: IceServer[] }

/** Why starting, joining or leaving a call failed. */
export class CallError extends Error {
  readonly name: "CallError";
  /** The server's error code (call_full, call_ended, not_a_member, not_found, ...), "unreachable",
   * "missing_user" or "websocket_required" (the client is on EventSource, which cannot send). */
  readonly code: string;
  /** HTTP status (0 when the server was not reached). */
  readonly status: number;
  /** The error answer's JSON body. */
  readonly body: unknown;
}

/** `(method, path under /api/v1, body?)` → parsed JSON; rejects with a CallError. */
export type CallApi = (method: string, path: string, body?: unknown, init?: RequestInit) => Promise<any>;

export interface PeerOptions {
  /** ms an ICE "disconnected" state may last before an ICE restart (default 2000). */
  disconnectedGrace?: number;
  /** ICE restarts in a row without reaching "connected" before giving up (default 5). */
  maxIceRestarts?: number;
}

export interface MeshOptions extends PeerOptions {
  /** This user's id (default: the token's `sub`). The lower id of a pair is the polite peer. */
  userId?: number;
  localStream?: MediaStream | null;
  direction?: MediaDirection;
  /** RTCConfiguration; until it is given (here or by `configure()`), incoming signals are kept. */
  rtcConfig?: RTCConfiguration | null;
  /** Make a Peer when a user without one signals (default true). */
  accept?: boolean;
}

export interface JoinCallOptions extends PeerOptions {
  /** This user's id (default: the token's `sub`). */
  userId?: number;
  /** Media to send; default: getUserMedia(constraints). */
  localStream?: MediaStream;
  /** getUserMedia constraints (default {audio: true, video: true}). */
  constraints?: MediaStreamConstraints;
  /** Overrides the join answer's ice_servers. */
  iceServers?: IceServer[];
  /** "relay": TURN only. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  direction?: MediaDirection;
  /** REST calls (default: this client's token, refreshed through getToken on a 401). */
  api?: CallApi;
}

/** An RTCPeerConnectionIceErrorEvent (errorCode 401: the TURN server refused the credential). */
export interface CandidateError { userId: number; url: string; errorCode: number; errorText: string }

export interface PeerEventMap {
  stream: { userId: number; stream: MediaStream };
  "candidate-error": CandidateError;
  state: { userId: number; state: RTCPeerConnectionState | "closed" };
  error: { userId: number; error: unknown };
}

export interface MeshEventMap {
  peer: { userId: number; peer: Peer };
  stream: { userId: number; stream: MediaStream };
  "peer-state": { userId: number; state: RTCPeerConnectionState | "closed" };
  "peer-closed": { userId: number };
  "candidate-error": CandidateError;
  error: { userId?: number; error: unknown };
}

export type CallState = "joining" | "joined" | "left" | "ended";

export interface CallEventMap {
  "participant-joined": { userId: number; userName: string };
  "participant-left": { userId: number; userName: string };
  stream: { userId: number; stream: MediaStream };
  "peer-state": { userId: number; state: RTCPeerConnectionState | "closed" };
  /** reason: "left", "ended" (CallEnded), "dropped" (the server took this user out), "join_failed". */
  state: { state: CallState; reason?: string };
  media: { audio: boolean; video: boolean };
  ended: { reason: "left" | "ended" | "dropped" };
  "candidate-error": CandidateError;
  error: { userId?: number; error: unknown };
}

interface Events<M> {
  on<K extends keyof M>(type: K, handler: (data: M[K]) => void): () => void;
  off<K extends keyof M>(type: K, handler?: (data: M[K]) => void): void;
}

/** One RTCPeerConnection to one remote user, by the "perfect negotiation" pattern. */
export class Peer implements Events<PeerEventMap> {
  constructor(options: PeerOptions & { userId: number; polite: boolean; signal: (kind: SignalKind, data: object) => void;
    localStream?: MediaStream | null; direction?: MediaDirection; rtcConfig?: RTCConfiguration;
    waitForOffer?: boolean });
  readonly userId: number;
  readonly polite: boolean;
  readonly direction: MediaDirection;
  readonly pc: RTCPeerConnection;
  readonly remoteStream: MediaStream | null;
  readonly iceRestarts: number;
  /** The remote page's session, once it signalled. */
  remoteSession: string | null;
  readonly closed: boolean;
  readonly state: RTCPeerConnectionState | "closed";
  handle(kind: SignalKind, data: object): Promise<void>;
  restartIce(): boolean;
  close(): void;
  on<K extends keyof PeerEventMap>(type: K, handler: (data: PeerEventMap[K]) => void): () => void;
  off<K extends keyof PeerEventMap>(type: K, handler?: (data: PeerEventMap[K]) => void): void;
}

/** The peers of one call_id, signalled through an ITCookRealtime client. */
export class Mesh implements Events<MeshEventMap> {
  constructor(realtime: ITCookRealtime, callId: CallId, options: MeshOptions & { userId: number });
  readonly callId: CallId;
  readonly userId: number;
  /** This page's session: signals carry it, and a newer one from a user replaces their peer. */
  readonly session: string;
  readonly direction: MediaDirection;
  readonly peers: Map<number, Peer>;
  accept: boolean;
  configure(rtcConfig: RTCConfiguration): this;
  /** `waitForOffer`: answer the other's first offer (with this side's media) instead of offering. */
  connect(userId: number, options?: { waitForOffer?: boolean }): Peer | null;
  drop(userId: number): boolean;
  restartIce(): void;
  close(): void;
  on<K extends keyof MeshEventMap>(type: K, handler: (data: MeshEventMap[K]) => void): () => void;
  off<K extends keyof MeshEventMap>(type: K, handler?: (data: MeshEventMap[K]) => void): void;
}

/** A joined group call. */
export class Call implements Events<CallEventMap> {
  readonly id: number;
  readonly userId: number;
  readonly state: CallState;
  readonly info: CallInfo | null;
  readonly iceServers: IceServer[];
  readonly localStream: MediaStream | null;
  /** The other participants, by user id. */
  readonly participants: Map<number, { user_id: number; user_name: string }>;
  readonly remoteStreams: Map<number, MediaStream>;
  readonly peers: Map<number, Peer>;
  readonly mesh: Mesh | null;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
  mute(): void;
  unmute(): void;
  cameraOff(): void;
  cameraOn(): void;
  /** `keepalive`: the request outlives the page (call it from `pagehide`). */
  leave(options?: { keepalive?: boolean }): Promise<void>;
  on<K extends keyof CallEventMap>(type: K, handler: (data: CallEventMap[K]) => void): () => void;
  off<K extends keyof CallEventMap>(type: K, handler?: (data: CallEventMap[K]) => void): void;
}

export class ITCookRealtime {
  constructor(options?: Options);
  static readonly DEFAULT_CHANNELS: string[];
  static readonly SERVER_TYPES: string[];
  static readonly PushError: typeof PushError;
  static readonly CallError: typeof CallError;
  static readonly Call: typeof Call;
  static readonly Mesh: typeof Mesh;
  static readonly Peer: typeof Peer;

  readonly options: Options;
  readonly state: State;
  readonly transport: Transport | null;
  /** Highest durable event id received: the resume point. */
  readonly lastEventId: number | null;
  /** Successful connections after the first. */
  readonly reconnects: number;
  /** Durable events dropped as already seen. */
  readonly duplicates: number;
  readonly channels: string[];
  readonly connected: boolean;

  connect(): this;
  disconnect(): void;
  setToken(token: string | null): void;

  on<K extends keyof EventMap>(type: K, handler: (data: EventMap[K], frame: Frame<EventMap[K]>) => void): () => void;
  on<K extends keyof ClientEventMap>(type: K, handler: (data: ClientEventMap[K]) => void): () => void;
  on(type: "*" | string, handler: (data: any, frame: Frame) => void): () => void;
  off(type: string, handler?: (...args: any[]) => void): void;

  subscribe(channels: string | string[]): this;
  unsubscribe(channels: string | string[]): this;
  startTyping(postId: number | string): boolean;
  stopTyping(postId: number | string): boolean;
  send(frame: { type: string; [key: string]: unknown }): boolean;

  /** Register the Service Worker, subscribe with the server's VAPID key and POST the
   * subscription to /api/v1/push/subscriptions. Rejects with a PushError. */
  enablePush(options?: PushOptions): Promise<PushSubscription>;
  /** Unsubscribe this browser and DELETE the subscription; false when there was none. */
  disablePush(options?: PushOptions): Promise<boolean>;

  /** Join a call: media, POST /calls/<id>/join, a peer per participant. Rejects with a CallError. */
  joinCall(callId: number, options?: JoinCallOptions): Promise<Call>;
  /** POST /groups/<id>/calls and join; the group's live call (409) is joined instead. */
  startCall(groupId: number, options?: JoinCallOptions): Promise<Call>;
  /** The peer logic alone for any call_id (e.g. "live:<id>", sendonly / recvonly). */
  mesh(callId: CallId, options?: MeshOptions): Mesh;
}

/** The seed's shape: `new ITCookWebSocket(token).connect()` with overridable handler methods. */
export class ITCookWebSocket extends ITCookRealtime {
  constructor(token: string, options?: Options);
  handleEvent(event: Frame): void;
  onNewPost(data: NewCommunityPost): void;
  onPostLiked(data: PostLiked): void;
  onNewComment(data: NewComment): void;
  onNewFollower(data: NewFollower): void;
  onExpiringItems(data: ExpiringItems): void;
  onGoalAchieved(data: GoalAchieved): void;
  onRecipeGenerated(data: RecipeGenerated): void;
  onSystemNotification(data: SystemNotification): void;
  onUserTyping(data: UserTyping): void;
  showNotification(title: string, message: string): void;
}

export default ITCookRealtime;

declare global {
  interface Window {
    ITCookRealtime: typeof ITCookRealtime;
    ITCookWebSocket: typeof ITCookWebSocket;
  }
}
