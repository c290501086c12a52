// roomkey.js: the browser client of roomkey, on top of socket.io-client.
//
//   import { RoomKey } from "https://your-roomkey-host/roomkey.js";
//   const rk = new RoomKey("https://your-roomkey-host", { key: "app-key" });
//   const ch = rk.subscribe("private-chat-42");
//   ch.bind("message", (data, meta) => console.log(data, meta.user_id));
//   await ch.ready;
//
// The wire protocol is roomkey's Socket.IO transport (docs/protocol.md). The API follows
// pusher-js: channels with bind/unbind/trigger, presence members, connection states, and the
// authorize round trip (socket_id + channel_name, form-encoded, to authEndpoint) done for you.
// socket.io-client is imported from the copy roomkey serves next to this file (no build step);
// so is tweetnacl (as pusher-js uses), which defines self.nacl, to decrypt private-encrypted-
// channels.

import { io } from "./vendor/socket.io-client/socket.io.esm.min.js";
import "./vendor/tweetnacl/nacl-fast.min.js";

const nacl = globalThis.nacl;

/** An error reported by roomkey or by the authorize endpoint: `code` (Pusher's codes, e.g.
 * 4009 unauthorized), `status` (the HTTP status of a failed authorize call, else null). */
export class RoomKeyError extends Error {
  constructor(message, { code = null, status = null, type = "RoomKeyError" } = {}) {
    super(message);
    this.name = "RoomKeyError";
    this.code = code;
    this.status = status;
    this.type = type;
  }
}

/** A tiny event emitter: bind(event, fn), unbind(event?, fn?), bind_global(fn). */
class Emitter {
  constructor() {
    this._handlers = new Map();
    this._global = [];
  }

  bind(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push(fn);
    return this;
  }

  unbind(event, fn) {
    if (event === undefined) {
      this._handlers.clear();
    } else if (fn === undefined) {
      this._handlers.delete(event);
    } else {
      const list = (this._handlers.get(event) || []).filter((f) => f !== fn);
      this._handlers.set(event, list);
    }
    return this;
  }

  bind_global(fn) {
    this._global.push(fn);
    return this;
  }

  unbind_global(fn) {
    this._global = fn === undefined ? [] : this._global.filter((f) => f !== fn);
    return this;
  }

  emit(event, ...args) {
    for (const fn of this._global) call(fn, event, ...args);
    for (const fn of this._handlers.get(event) || []) call(fn, ...args);
  }
}

function call(fn, ...args) {
  try {
    fn(...args);
  } catch (err) {
    // A failing handler must not break delivery to the others.
    setTimeout(() => {
      throw err;
    });
  }
}

/** Event data that is JSON text is parsed, as pusher-js does; anything else is kept. */
function decode(data) {
  if (typeof data !== "string") return data;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

function fromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The NaCl secretbox an encrypted channel's publisher made (`{"nonce", "ciphertext"}`,
 * base64, as the Pusher SDKs' `encryption_master_key_base64` publish it): {nonce, ciphertext}
 * as bytes, or null when `data` is not one. */
function sealedBox(data) {
  const box = decode(data);
  if (!box || typeof box.nonce !== "string" || typeof box.ciphertext !== "string") return null;
  try {
    const nonce = fromBase64(box.nonce);
    const ciphertext = fromBase64(box.ciphertext);
    if (nonce.length !== nacl.secretbox.nonceLength) return null;
    if (ciphertext.length < nacl.secretbox.overheadLength) return null;
    return { nonce, ciphertext };
  } catch {
    return null;
  }
}

/** The plaintext of `box` under the base64 `sharedSecret`, parsed as JSON when it is JSON
 * (as pusher-js does); undefined when the key does not open it. */
function openBox(box, sharedSecret) {
  if (!sharedSecret) return undefined;
  let key;
  try {
    key = fromBase64(sharedSecret);
  } catch {
    return undefined;
  }
  if (key.length !== nacl.secretbox.keyLength) return undefined;
  const bytes = nacl.secretbox.open(box.ciphertext, box.nonce, key);
  if (bytes === null) return undefined;
  return decode(new TextDecoder().decode(bytes));
}

function settled(promise) {
  // The caller may never await `ready`; a rejection must not become an unhandled one.
  promise.catch(() => {});
  return promise;
}

/** Presence members of one channel: `count`, `me` ({id, info}), `each(fn)`, `get(id)`. */
export class Members {
  constructor() {
    this.reset();
  }

  reset() {
    this.members = {};
    this.count = 0;
    this.myID = null;
    this.me = null;
  }

  each(fn) {
    for (const [id, info] of Object.entries(this.members)) fn({ id, info });
  }

  get(id) {
    return Object.hasOwn(this.members, id) ? { id, info: this.members[id] } : null;
  }

  _set(presence, myID) {
    this.members = { ...(presence.hash || {}) };
    this.count = Object.keys(this.members).length;
    this.myID = myID;
    this.me = myID === null ? null : this.get(myID);
  }

  _add(id, info) {
    const isNew = !Object.hasOwn(this.members, id);
    this.members[id] = info;
    if (isNew) this.count += 1;
    return { id, info };
  }

  _remove(id) {
    const member = this.get(id);
    if (member) {
      delete this.members[id];
      this.count -= 1;
    }
    return member;
  }
}

/** One channel. Events: `subscription_succeeded`, `subscription_error` (a RoomKeyError),
 * `member_added` / `member_removed` (presence), `cache_miss` (a cache channel with nothing
 * cached), `subscription_count` (`{subscription_count}`, apps that count subscriptions; the
 * last one is also `subscriptionCount`), and every published or client event, whose
 * handlers get `(data, {user_id})`. Each internal event is also emitted with the `pusher:`
 * prefix that pusher-js code binds to. On `private-encrypted-` channels, events arrive
 * decrypted (the parsed plaintext); one that cannot be decrypted, even with a fresh
 * `shared_secret` from authorizing again, is dropped and reported as `decryption_error` (a
 * RoomKeyError of type "DecryptionError" naming the event). */
export class Channel extends Emitter {
  constructor(name, client) {
    super();
    this.name = name;
    this.client = client;
    this.subscribed = false;
    this.subscriptionPending = false;
    this.subscriptionCancelled = false;
    this.members = name.startsWith("presence-") ? new Members() : null;
    this.sharedSecret = null;
    this.subscriptionCount = null;
    this._attempt = 0;
    this._resetReady();
  }

  /** Send a client event (names start with `client-`) to the channel's other subscribers.
   * Resolves when roomkey accepted it; rejects with a RoomKeyError (4301 when refused). */
  async trigger(event, data) {
    if (!this.subscribed) {
      throw new RoomKeyError(`not subscribed to ${this.name}`, { code: 4301 });
    }
    const answer = await this.client._call("trigger", { channel: this.name, event, data });
    if (answer && answer.error) {
      throw new RoomKeyError(answer.error.message, { code: answer.error.code });
    }
    return answer;
  }

  _emitBoth(event, ...args) {
    this.emit(event, ...args);
    this.emit(`pusher:${event}`, ...args);
  }

  _resetReady() {
    this.ready = settled(
      new Promise((resolve, reject) => {
        this._resolveReady = resolve;
        this._rejectReady = reject;
      }),
    );
  }

  _lost() {
    // The socket went away: the server forgot this subscription; a new one starts on
    // the next connection, and an attempt still in flight is void.
    this._attempt += 1;
    this.subscribed = false;
    this.subscriptionPending = false;
    if (this.members) this.members.reset();
  }

  async _subscribe(socketId) {
    const attempt = ++this._attempt;
    this.subscriptionPending = true;
    try {
      const grant = await this.client._authorize(this.name, socketId);
      if (attempt !== this._attempt || this.subscriptionCancelled) return;
      const request = { channel: this.name };
      if (grant) {
        request.auth = grant.auth;
        if (grant.channel_data !== undefined) request.channel_data = grant.channel_data;
        this.sharedSecret = grant.shared_secret || null;
      }
      const answer = await this.client._call("subscribe", request);
      if (attempt !== this._attempt) return;
      if (this.subscriptionCancelled) {
        // Unsubscribed while the server was joining: leave again.
        if (answer && !answer.error) this.client._leave(this.name);
        return;
      }
      if (answer && answer.error) {
        throw new RoomKeyError(answer.error.message, {
          code: answer.error.code,
          type: "SubscriptionRefused",
        });
      }
      this.subscriptionPending = false;
      this.subscribed = true;
      let payload = {};
      if (this.members) {
        const me = grant && grant.channel_data ? JSON.parse(grant.channel_data).user_id : null;
        this.members._set(answer.presence || {}, me === null ? null : String(me));
        payload = this.members;
      }
      this._resolveReady(this);
      this._emitBoth("subscription_succeeded", payload);
    } catch (err) {
      if (attempt !== this._attempt || this.subscriptionCancelled) return;
      this.subscriptionPending = false;
      const error =
        err instanceof RoomKeyError
          ? err
          : new RoomKeyError(String(err && err.message ? err.message : err), {
              type: "AuthError",
            });
      this._rejectReady(error);
      this._resetReady();
      this._emitBoth("subscription_error", error);
    }
  }

  _event(message) {
    const meta = message.user_id === undefined ? {} : { user_id: message.user_id };
    if (this.name.startsWith("private-encrypted-") && !/^pusher(_internal)?:/.test(message.event)) {
      this._encryptedEvent(message, meta);
      return;
    }
    this.emit(message.event, decode(message.data), meta);
  }

  _cacheMiss() {
    this._emitBoth("cache_miss");
  }

  _subscriptionCount(message) {
    this.subscriptionCount = message.subscription_count;
    this._emitBoth("subscription_count", { subscription_count: message.subscription_count });
  }

  /** As pusher-js: a box the shared secret does not open makes the channel authorize once
   * more for a fresh secret (the master key may have rotated) and try again. */
  async _encryptedEvent(message, meta) {
    const box = sealedBox(message.data);
    if (box === null) {
      this._decryptionError(message.event, "not an encrypted payload ({nonce, ciphertext})");
      return;
    }
    let plain = openBox(box, this.sharedSecret);
    if (plain === undefined) {
      const socketId = this.client.connection.socket_id;
      try {
        const grant = socketId ? await this.client._authorize(this.name, socketId) : null;
        if (grant && grant.shared_secret) this.sharedSecret = grant.shared_secret;
      } catch (err) {
        this._decryptionError(message.event, `no fresh shared_secret: ${err.message}`);
        return;
      }
      plain = openBox(box, this.sharedSecret);
    }
    if (plain === undefined) {
      this._decryptionError(message.event, "the shared_secret does not open the payload");
      return;
    }
    this.emit(message.event, plain, meta);
  }

  _decryptionError(event, reason) {
    const error = new RoomKeyError(`cannot decrypt ${event} on ${this.name}: ${reason}`, {
      type: "DecryptionError",
    });
    error.event = event;
    this._emitBoth("decryption_error", error);
  }

  _memberAdded(message) {
    if (!this.members) return;
    this._emitBoth("member_added", this.members._add(String(message.user_id), message.user_info));
  }

  _memberRemoved(message) {
    if (!this.members) return;
    const member = this.members._remove(String(message.user_id));
    if (member) this._emitBoth("member_removed", member);
  }
}

/** The signed-in user (`client.user`, Pusher's user sign-in): `signin()` asks the user-auth
 * endpoint to sign this socket id and signs in, again after every reconnection;
 * `user_data` is what was signed in (parsed); events the server sends to the user (its
 * `#server-to-user-` channel) are emitted here; `watchlist` emits `online` and `offline`
 * with `{name, user_ids}` for the users on the `watchlist` of the user's `user_data`. */
export class User extends Emitter {
  constructor(client) {
    super();
    this.client = client;
    this.user_data = null;
    this.watchlist = new Emitter();
    this.signinRequested = false;
    this._attempt = 0;
    this._resetDone();
  }

  /** Sign in now (or as soon as connected). Resolves with `user_data` once roomkey accepted
   * it; rejects with a RoomKeyError (the user-auth endpoint or roomkey refused it). */
  signin() {
    this.signinRequested = true;
    if (this.client.connection.state === "connected" && !this.user_data) {
      this._signin(this.client.connection.socket_id);
    }
    return this.done;
  }

  _resetDone() {
    this.done = settled(
      new Promise((resolve, reject) => {
        this._resolveDone = resolve;
        this._rejectDone = reject;
      }),
    );
  }

  _lost() {
    this._attempt += 1;
    if (this.user_data) this._resetDone();
    this.user_data = null;
  }

  _owns(channel) {
    return this.user_data !== null && channel === `#server-to-user-${this.user_data.id}`;
  }

  async _signin(socketId) {
    const attempt = ++this._attempt;
    try {
      const grant = await this.client._authCall(this.client.options.userAuthEndpoint, {
        socket_id: socketId,
      });
      if (attempt !== this._attempt) return;
      const answer = await this.client._call("signin", {
        auth: grant.auth,
        user_data: grant.user_data,
      });
      if (attempt !== this._attempt) return;
      if (answer && answer.error) {
        throw new RoomKeyError(answer.error.message, {
          code: answer.error.code,
          type: "SigninRefused",
        });
      }
      this.user_data = JSON.parse(answer.user_data);
      this._resolveDone(this.user_data);
      this.emit("signin_success", this.user_data);
    } catch (err) {
      if (attempt !== this._attempt) return;
      const error =
        err instanceof RoomKeyError
          ? err
          : new RoomKeyError(String(err && err.message ? err.message : err), {
              type: "AuthError",
            });
      this._rejectDone(error);
      this._resetDone();
      this.emit("signin_error", error);
    }
  }

  _event(message) {
    this.emit(message.event, decode(message.data));
  }

  _watchlist(message) {
    this.watchlist.emit(message.event, { name: message.event, user_ids: message.user_ids });
  }
}

/** The connection: `state`, `socket_id`, and events for each state plus `state_change`
 * ({previous, current}), `error` (a RoomKeyError) and `connected` with the socket id.
 * States: initialized, connecting, connected, unavailable, disconnected, failed. */
export class Connection extends Emitter {
  constructor() {
    super();
    this.state = "initialized";
    this.socket_id = null;
  }

  _to(state, detail) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.emit("state_change", { previous, current: state });
    this.emit(state, detail);
  }
}

const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** `new RoomKey(url, options)`: connects at once (unless `autoConnect: false`).
 *
 * Options: `key` (the app key, required); `authEndpoint` (default "/pusher/auth", relative
 * to the page); `auth: {headers, params}` added to every authorize call; `token` (a JWT, or
 * a function returning one or a promise of one) sent in the handshake and as
 * `Authorization: Bearer` to the authorize endpoint; `userAuthEndpoint` (default
 * "/pusher/user-auth": what `user.signin()` asks); `withCredentials` (default true: cookies
 * go with the authorize call and the socket); `timeout` (ms for each authorize call and
 * acknowledgement); `io` (extra socket.io-client options, e.g. reconnectionDelay). */
export class RoomKey {
  constructor(url, options = {}) {
    if (!options.key) throw new RoomKeyError("RoomKey needs options.key (the app key)");
    this.url = url;
    this.key = options.key;
    this.options = {
      authEndpoint: "/pusher/auth",
      userAuthEndpoint: "/pusher/user-auth",
      auth: {},
      withCredentials: true,
      timeout: DEFAULT_CALL_TIMEOUT_MS,
      ...options,
    };
    this.connection = new Connection();
    this.channels = new Map();
    this.user = new User(this);
    this._retryTimer = null;
    this._serverCode = null;
    this.socket = io(url, {
      autoConnect: false,
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      withCredentials: this.options.withCredentials,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      ...(this.options.io || {}),
      auth: (cb) => {
        this._handshake().then(cb, () => cb({ key: this.key }));
      },
    });
    this._wire();
    if (options.autoConnect !== false) this.connect();
  }

  get socketId() {
    return this.connection.socket_id;
  }

  connect() {
    if (this.socket.connected || this.socket.active) return;
    this._serverCode = null;
    this.connection._to("connecting");
    this.socket.connect();
  }

  /** Close the connection for good (until `connect()`); channels stay and are joined
   * again on the next connection. */
  disconnect() {
    clearTimeout(this._retryTimer);
    this.socket.disconnect();
    this._onLost();
    this.connection._to("disconnected");
  }

  /** Present a new JWT for this connection's handshake identity (the same user) without
   * reconnecting: roomkey's `refresh`. `token` defaults to the `token` option (called when it
   * is a function). Once roomkey accepts a token given here, it also replaces a string
   * `token` option, for the next handshake and authorize calls. Resolves with `{}`; rejects
   * with a RoomKeyError (4009: a bad or expired token, another user's, or a connection that
   * was not identified by a token; `code` null when not connected). */
  async refresh(token) {
    const fresh = token === undefined ? await this._token() : token;
    if (typeof fresh !== "string" || !fresh) {
      throw new RoomKeyError("refresh needs a token (a JWT string)");
    }
    const answer = await this._call("refresh", { token: fresh });
    if (answer && answer.error) {
      throw new RoomKeyError(answer.error.message, { code: answer.error.code });
    }
    if (token !== undefined && typeof this.options.token !== "function") {
      this.options.token = token;
    }
    return answer;
  }

  /** The channel object for `name`, subscribing (authorizing first for private and presence
   * channels) as soon as there is a socket id, and again after every reconnection. */
  subscribe(name) {
    let channel = this.channels.get(name);
    if (!channel) {
      channel = new Channel(name, this);
      this.channels.set(name, channel);
    }
    channel.subscriptionCancelled = false;
    if (this.connection.state === "connected" && !channel.subscribed && !channel.subscriptionPending) {
      channel._subscribe(this.connection.socket_id);
    }
    return channel;
  }

  unsubscribe(name) {
    const channel = this.channels.get(name);
    if (!channel) return;
    this.channels.delete(name);
    channel.subscriptionCancelled = true;
    const wasSubscribed = channel.subscribed;
    const wasPending = channel.subscriptionPending;
    channel.subscribed = false;
    if (channel.members) channel.members.reset();
    if (wasSubscribed) this._leave(name);
    // A pending attempt runs on and leaves once the server has answered (see _subscribe).
    if (!wasPending) channel._attempt += 1;
  }

  _leave(name) {
    if (this.socket.connected) {
      this.socket.timeout(this.options.timeout).emit("unsubscribe", { channel: name }, () => {});
    }
  }

  channel(name) {
    return this.channels.get(name) || null;
  }

  allChannels() {
    return [...this.channels.values()];
  }

  async _token() {
    const t = this.options.token;
    return typeof t === "function" ? await t() : t;
  }

  async _handshake() {
    const auth = { key: this.key };
    const token = await this._token();
    if (token) auth.token = token;
    return auth;
  }

  /** Asks the authorize endpoint for `{auth, channel_data?, shared_secret?}`; null for
   * public channels, which need none. */
  async _authorize(channelName, socketId) {
    if (!/^(private-|presence-)/.test(channelName)) return null;
    return this._authCall(this.options.authEndpoint, {
      socket_id: socketId,
      channel_name: channelName,
    });
  }

  /** POSTs `fields` (and `auth.params`) to an authorize endpoint; its JSON answer, which must
   * carry `auth`, or a RoomKeyError of type AuthError. */
  async _authCall(endpoint, fields) {
    const body = new URLSearchParams(fields);
    for (const [k, v] of Object.entries(this.options.auth.params || {})) body.append(k, v);
    const headers = {
      "Content-Type": "application/x-www-form-urlencoded",
      ...(this.options.auth.headers || {}),
    };
    const token = await this._token();
    if (token && !headers.Authorization) headers.Authorization = `Bearer ${token}`;
    const call = { channel: fields.channel_name || null, socket_id: fields.socket_id, endpoint };
    this.connection.emit("authorize_request", call);
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers,
        body,
        credentials: this.options.withCredentials ? "include" : "same-origin",
        signal: AbortSignal.timeout(this.options.timeout),
      });
    } catch (err) {
      const error = new RoomKeyError(`authorize call failed: ${err.message}`, { type: "AuthError" });
      this.connection.emit("authorize_response", { ...call, status: null, body: null, error });
      throw error;
    }
    const text = await response.text();
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = null;
    }
    this.connection.emit("authorize_response", { ...call, status: response.status, body: answer });
    if (!response.ok || !answer || typeof answer.auth !== "string") {
      const detail = answer && answer.error ? answer.error : {};
      throw new RoomKeyError(detail.message || `authorize endpoint answered ${response.status}`, {
        code: detail.code ?? null,
        status: response.status,
        type: "AuthError",
      });
    }
    return answer;
  }

  /** Emit with an acknowledgement; resolves with the answer or an {error} on timeout. */
  _call(event, payload) {
    return new Promise((resolve) => {
      if (!this.socket.connected) {
        // socket.io would buffer it for the next connection, where its signature is void.
        resolve({ error: { code: null, message: `not connected: ${event} not sent` } });
        return;
      }
      this.socket.timeout(this.options.timeout).emit(event, payload, (err, answer) => {
        if (err) {
          resolve({ error: { code: null, message: `no answer to ${event} (timeout)` } });
        } else {
          resolve(answer);
        }
      });
    });
  }

  _onLost() {
    this.connection.socket_id = null;
    for (const channel of this.channels.values()) channel._lost();
    this.user._lost();
  }

  _wire() {
    const s = this.socket;
    s.on("connection_established", (info) => {
      clearTimeout(this._retryTimer);
      this.connection.socket_id = info.socket_id;
      this.connection.activity_timeout = info.activity_timeout;
      this.connection._to("connected", { socket_id: info.socket_id });
      // A fresh socket id: every channel is authorized and joined again.
      for (const channel of this.channels.values()) channel._subscribe(info.socket_id);
      if (this.user.signinRequested) this.user._signin(info.socket_id);
    });
    s.on("event", (message) => {
      const channel = this.channels.get(message.channel);
      if (channel) channel._event(message);
      else if (this.user._owns(message.channel)) this.user._event(message);
    });
    s.on("cache_miss", (message) => {
      const channel = this.channels.get(message.channel);
      if (channel) channel._cacheMiss();
    });
    s.on("subscription_count", (message) => {
      const channel = this.channels.get(message.channel);
      if (channel) channel._subscriptionCount(message);
    });
    s.on("watchlist", (message) => this.user._watchlist(message));
    s.on("member_added", (message) => {
      const channel = this.channels.get(message.channel);
      if (channel) channel._memberAdded(message);
    });
    s.on("member_removed", (message) => {
      const channel = this.channels.get(message.channel);
      if (channel) channel._memberRemoved(message);
    });
    s.on("error", (err) => {
      // Connection-level error, sent before the server closes the socket.
      this._serverCode = err && typeof err.code === "number" ? err.code : null;
      this.connection.emit("error", new RoomKeyError(err.message, { code: this._serverCode }));
    });
    s.on("disconnect", (reason) => {
      this._onLost();
      if (reason === "io client disconnect") return;
      if (reason === "io server disconnect") {
        // The server closed this socket on purpose; its code says whether to come back.
        this._retry(this._serverCode);
      } else {
        this.connection._to("connecting");
      }
    });
    s.on("connect_error", (err) => {
      const data = err && err.data;
      if (data && typeof data.code === "number") {
        // Refused by roomkey (unknown app, no identity...): socket.io does not retry these.
        const error = new RoomKeyError(data.message || err.message, { code: data.code });
        this.connection.emit("error", error);
        this._retry(data.code);
      } else {
        this.connection._to("unavailable");
      }
    });
    // Automatic reconnection after a dropped transport: each failed attempt means the
    // server cannot be reached right now.
    s.io.on("reconnect_error", () => this.connection._to("unavailable"));
  }

  /** Pusher's close-code ranges: 4000-4099 do not reconnect, 4100-4199 reconnect after a
   * pause, anything else reconnect now. */
  _retry(code) {
    clearTimeout(this._retryTimer);
    if (code !== null && code >= 4000 && code < 4100) {
      this.connection._to("failed");
      return;
    }
    const delay = code !== null && code >= 4100 && code < 4200 ? 2000 + Math.random() * 3000 : 200;
    this.connection._to("connecting");
    this._retryTimer = setTimeout(() => this.socket.connect(), delay);
  }
}

export default RoomKey;
