// An Express application that logs users in with express-session and connect-redis, as the
// apps roomkey shares a login with do. Run by tests/support/express_app.py:
//   PORT=0 REDIS_URL=redis://... SECRETS='["current","old"]' [PREFIX=sess:] [MAX_AGE_MS=...] node app.mjs
// It prints one JSON line {"port": N} once it listens.
//
//   GET  /               a page for the browser tests (loads /roomkey.js from ?roomkey=...)
//   POST /login          {"user": "...", "name": "...", "plain": false}: sets
//                        req.session.passport = {user: {id, name}} (Passport's layout), or with
//                        plain: true req.session.user_id / req.session.name
//   POST /logout         destroys the session (connect-redis deletes it)
//   GET  /whoami         what the session holds
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import { createClient } from "redis";

const secrets = JSON.parse(process.env.SECRETS || "[]");
const client = createClient({ url: process.env.REDIS_URL });
client.on("error", (err) => console.error("redis:", err.message));
await client.connect();

const app = express();
app.use(express.json());
const cookie = { httpOnly: true, sameSite: "lax" };
if (process.env.MAX_AGE_MS) cookie.maxAge = Number(process.env.MAX_AGE_MS);
app.use(
  session({
    store: new RedisStore({ client, prefix: process.env.PREFIX || "sess:" }),
    secret: secrets,
    resave: false,
    saveUninitialized: false,
    cookie,
  }),
);

// The same page as tests/support/login_apps.py LOGIN_PAGE.
const PAGE = `<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
  const params = new URLSearchParams(location.search);
  const base = params.get("roomkey");
  window.login = async (user, name) => {
    const r = await fetch("/login", {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify({user, name})});
    return r.status;
  };
  window.joinRoomkey = async (channel, privateChannel) => {
    const { RoomKey } = await import(base + "/roomkey.js");
    const rk = new RoomKey(base, {key: params.get("key"), authEndpoint: base + "/pusher/auth"});
    window.rk = rk;
    const room = rk.subscribe(channel);
    const result = {};
    room.bind("subscription_error", (err) => { result.error = [err.status, err.message]; });
    try { await room.ready; result.me = room.members.me; } catch (e) { result.error = String(e); }
    // No auth: the socket's handshake identity (the cookie) decides.
    result.handshake = await rk._call("subscribe", {channel: privateChannel});
    return result;
  };
  document.body.dataset.ready = "true";
</script>`;

app.get("/", (req, res) => res.type("html").send(PAGE));

app.post("/login", (req, res, next) => {
  const { user, name, plain } = req.body || {};
  req.session.regenerate((err) => {
    if (err) return next(err);
    if (plain) {
      req.session.user_id = user;
      req.session.name = name;
    } else {
      req.session.passport = { user: { id: user, name } };
    }
    req.session.save((err2) => (err2 ? next(err2) : res.json({ user })));
  });
});

app.post("/logout", (req, res, next) => {
  req.session.destroy((err) => (err ? next(err) : res.json({})));
});

app.get("/whoami", (req, res) => {
  res.json({ session: req.session.passport || req.session.user_id || null });
});

const server = app.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});

const stop = () => {
  server.close();
  client.quit().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
