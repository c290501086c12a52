// The roomkey demo: log in, join your private channel and a presence room, chat, type, and
// watch the authorize round trips. One page, two logins: at / the user is kept in a session
// cookie, at /jwt in a bearer token (a JWT from /demo/token, no cookie).
import { RoomKey } from "/roomkey.js";

const mode = location.pathname === "/jwt" ? "jwt" : "cookie";
const MODES = {
  cookie: {
    title: "session cookie",
    note: 'Logged in with a <strong>session cookie</strong>. <a href="/jwt">Try the JWT page</a>.',
  },
  jwt: {
    title: "JWT",
    note:
      'Logged in with a <strong>JWT</strong> (bearer token, no cookie). ' +
      '<a href="/">Back to the cookie page</a>.',
  },
};
const TOKEN_KEY = "roomkey-demo-login";
const TYPING_SEND_MS = 1500;
const TYPING_SHOW_MS = 3000;
const MAX_LOG = 40;
const $ = (id) => document.getElementById(id);

document.title = `roomkey demo: ${MODES[mode].title}`;
$("login-mode").innerHTML = MODES[mode].note;

const demo = { rk: null, me: null, room: null, token: null, config: null };
window.demo = demo; // for the browser console: demo.rk is the RoomKey client
window.RoomKey = RoomKey;

function li(text, className) {
  const item = document.createElement("li");
  item.textContent = text;
  if (className) item.className = className;
  return item;
}

function logLine(text, className) {
  const log = $("log");
  log.prepend(li(`${new Date().toLocaleTimeString()}  ${text}`, className));
  while (log.children.length > MAX_LOG) log.lastChild.remove();
}

function badge(id, text, ok) {
  const el = $(id);
  el.textContent = text;
  el.dataset.ok = ok === undefined ? "" : String(ok);
}

function short(value) {
  return typeof value === "string" && value.length > 40 ? `${value.slice(0, 36)}…` : value;
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (demo.token) headers.Authorization = `Bearer ${demo.token}`;
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = answer.error ? answer.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return answer;
}

// -- login --------------------------------------------------------------------------------

async function restore() {
  if (mode === "jwt") {
    const saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
    if (saved && saved.expires_at > Date.now() + 10_000) {
      demo.token = saved.token;
      return { user_id: saved.user_id, name: saved.name };
    }
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
  try {
    return await api("/demo/me");
  } catch {
    return null;
  }
}

async function login(name) {
  if (mode === "jwt") {
    const answer = await api("/demo/token", { name });
    demo.token = answer.token;
    const saved = { ...answer, expires_at: Date.now() + answer.expires_in * 1000 };
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify(saved));
    logLine(`POST /demo/token → a JWT for ${answer.name} (${answer.user_id}), ${answer.expires_in} s`);
    return { user_id: answer.user_id, name: answer.name };
  }
  const answer = await api("/demo/login", { name });
  logLine(`POST /demo/login → session cookie for ${answer.name} (${answer.user_id})`);
  return answer;
}

async function logout() {
  if (demo.rk) demo.rk.disconnect();
  demo.rk = null;
  if (mode === "jwt") {
    sessionStorage.removeItem(TOKEN_KEY);
    demo.token = null;
  } else {
    await api("/demo/logout", {}).catch(() => {});
  }
  demo.me = null;
  showLogin("");
}

function showLogin(error) {
  $("login").hidden = false;
  $("session").hidden = true;
  $("login-error").textContent = error;
}

// -- the realtime part ---------------------------------------------------------------------

function start(me) {
  demo.me = me;
  $("login").hidden = true;
  $("session").hidden = false;
  $("me-name").textContent = me.name;
  $("me-id").textContent = me.user_id;
  $("messages").replaceChildren();
  $("notices").replaceChildren();
  if (demo.rk) demo.rk.disconnect(); // a client left over from an ended session

  const rk = new RoomKey(location.origin, {
    key: demo.config.key,
    authEndpoint: demo.config.auth_endpoint,
    token: mode === "jwt" ? () => demo.token : undefined,
    io: { reconnectionDelay: 300, reconnectionDelayMax: 2000 },
  });
  demo.rk = rk;
  demo.room = null;
  rk.connection.bind("state_change", () => demo.room && renderMembers(demo.room));
  watchConnection(rk);
  joinPrivate(rk, me);
  joinRoom($("room-name").value);
}

function watchConnection(rk) {
  const c = rk.connection;
  c.bind("state_change", ({ previous, current }) => {
    badge("state", current, current === "connected");
    if (current !== "connected") $("socket-id").textContent = "-";
    logLine(`connection ${previous} → ${current}`);
  });
  c.bind("connected", ({ socket_id }) => {
    $("socket-id").textContent = socket_id;
    logLine(`connection_established: socket id ${socket_id}`, "in");
  });
  c.bind("authorize_request", ({ endpoint, socket_id, channel }) => {
    logLine(`POST ${endpoint} socket_id=${socket_id} channel_name=${channel}`, "out");
  });
  c.bind("authorize_response", ({ status, body, channel }) => {
    const shown = body && body.auth ? { ...body, auth: short(body.auth) } : body;
    logLine(`← ${status ?? "network error"} for ${channel}: ${JSON.stringify(shown)}`, "in");
  });
  c.bind("error", (err) => {
    logLine(`error ${err.code}: ${err.message}`, "bad");
    if (err.code === 4009 && c.state !== "connected") {
      showLogin("Your session has ended: log in again.");
    }
  });
}

function watchSubscription(channel, statusId) {
  channel.bind("subscription_succeeded", () => {
    badge(statusId, "subscribed", true);
    logLine(`subscribe ${channel.name} → ok`, "in");
  });
  channel.bind("subscription_error", (err) => {
    badge(statusId, `refused (${err.status ?? err.code})`, false);
    logLine(`subscribe ${channel.name} → ${err.message}`, "bad");
  });
}

function joinPrivate(rk, me) {
  const name = `private-user-${me.user_id}`;
  $("private-name").textContent = name;
  badge("private-status", "pending");
  const channel = rk.subscribe(name);
  watchSubscription(channel, "private-status");
  channel.bind("wave", (data) => {
    $("notices").prepend(li(`${data.name} (${data.user_id}) waved at you`));
  });
}

function roomChannelName(room) {
  const slug = room.trim().toLowerCase().replace(/[^a-z0-9_-]+/g, "-").slice(0, 40);
  return `presence-room-${slug || "lobby"}`;
}

function joinRoom(room) {
  const rk = demo.rk;
  const name = roomChannelName(room);
  if (demo.room && demo.room.name === name) return;
  if (demo.room) rk.unsubscribe(demo.room.name);
  $("messages").replaceChildren();
  $("room-channel").textContent = name;
  badge("room-status", "pending");
  const channel = rk.subscribe(name);
  demo.room = channel;
  watchSubscription(channel, "room-status");
  const render = () => renderMembers(channel);
  channel.bind("subscription_succeeded", render);
  channel.bind("subscription_error", render);
  channel.bind("member_added", (m) => {
    logLine(`member_added ${m.info && m.info.name} (${m.id})`, "in");
    render();
  });
  channel.bind("member_removed", (m) => {
    logLine(`member_removed ${m.info && m.info.name} (${m.id})`, "in");
    render();
  });
  channel.bind("chat-message", (msg) => {
    const mine = demo.me && msg.user_id === demo.me.user_id;
    const item = li("", mine ? "mine" : "");
    const who = document.createElement("strong");
    who.textContent = `${msg.name}: `;
    item.append(who, document.createTextNode(msg.text));
    $("messages").append(item);
    item.scrollIntoView({ block: "nearest" });
    clearTyping(msg.user_id);
  });
  channel.bind("client-typing", (_data, meta) => showTyping(channel, meta.user_id));
  render();
}

function renderMembers(channel) {
  if (demo.room !== channel) return;
  const list = $("members");
  list.replaceChildren();
  $("member-count").textContent = String(channel.members.count);
  channel.members.each((member) => {
    const me = member.id === channel.members.myID;
    const item = li(`${member.info && member.info.name} `);
    item.dataset.userId = member.id;
    const id = document.createElement("code");
    id.textContent = me ? `${member.id} (you)` : member.id;
    item.append(id);
    if (!me) {
      const wave = document.createElement("button");
      wave.type = "button";
      wave.className = "small";
      wave.textContent = "wave";
      wave.addEventListener("click", () => waveAt(member.id));
      item.append(" ", wave);
    }
    list.append(item);
  });
}

async function waveAt(userId) {
  try {
    const answer = await api("/demo/wave", { to: userId });
    logLine(`POST /demo/wave → published on ${answer.channel}`, "out");
  } catch (err) {
    logLine(`wave failed: ${err.message}`, "bad");
  }
}

// -- typing indicators (client events) -----------------------------------------------------

const typing = new Map(); // user id -> timer
let lastTypingSent = 0;

function showTyping(channel, userId) {
  if (!userId) return;
  clearTimeout(typing.get(userId));
  typing.set(userId, setTimeout(() => clearTyping(userId), TYPING_SHOW_MS));
  renderTyping(channel);
}

function clearTyping(userId) {
  clearTimeout(typing.get(userId));
  typing.delete(userId);
  if (demo.room) renderTyping(demo.room);
}

function renderTyping(channel) {
  const names = [...typing.keys()].map((id) => {
    const member = channel.members.get(id);
    return member && member.info ? member.info.name : id;
  });
  $("typing").textContent = names.length ? `${names.join(", ")} typing…` : "";
}

function sendTyping() {
  const channel = demo.room;
  const now = Date.now();
  if (!channel || !channel.subscribed || now - lastTypingSent < TYPING_SEND_MS) return;
  lastTypingSent = now;
  channel.trigger("client-typing", {}).catch((err) => logLine(`typing: ${err.message}`, "bad"));
}

async function say(text) {
  const channel = demo.room;
  if (!channel || !text.trim()) return;
  try {
    await api("/demo/chat", { channel: channel.name, text });
    lastTypingSent = 0;
  } catch (err) {
    logLine(`chat failed: ${err.message}`, "bad");
  }
}

// -- wiring --------------------------------------------------------------------------------

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    start(await login($("name").value));
  } catch (err) {
    $("login-error").textContent = err.message;
  }
});
$("logout").addEventListener("click", logout);
$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  joinRoom($("room-name").value);
});
$("text").addEventListener("input", sendTyping);
$("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text");
  say(input.value);
  input.value = "";
});

demo.config = await api("/demo/config");
const me = await restore();
if (me) start(me);
else showLogin("");
document.body.dataset.ready = "true";
