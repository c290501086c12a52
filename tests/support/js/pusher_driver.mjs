// Drives the real pusher-js (and Laravel Echo) from web/node_modules for the Python tests.
//
// Config: JSON in the ROOMKEY_DRIVER environment variable:
//   {host, port, key, token, userToken, echo, prefix}
// ``prefix``: where roomkey is mounted in a host application ("" or "/realtime"): pusher-js's
// wsPath and the authorize endpoints' paths.
// Commands: one JSON object per line on stdin ({"op": ...}). Reports: one JSON object per
// line on stdout ({"type": ...}). The process exits when stdin closes.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(new URL("../../../web/package.json", import.meta.url));
const Pusher = require("pusher-js");

const cfg = JSON.parse(process.env.ROOMKEY_DRIVER);
const prefix = cfg.prefix || "";
const base = `http://${cfg.host}:${cfg.port}${prefix}`;

function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function membersOf(members) {
  return { members: members.members, count: members.count, me: members.me };
}

function watch(channel) {
  channel.bind_global((event, data) => {
    let payload = data;
    if (event === "pusher:subscription_succeeded" && data && data.members !== undefined) {
      payload = membersOf(data);
    }
    report({ type: "event", channel: channel.name, event, data: payload });
  });
}

let pusher;
let echo;
const options = {
  wsHost: cfg.host,
  wsPort: cfg.port,
  wsPath: prefix,
  forceTLS: false,
  enabledTransports: ["ws"],
  cluster: "mt1",
  disableStats: true,
  channelAuthorization: {
    endpoint: `${base}/pusher/auth`,
    transport: "ajax",
    headers: { Authorization: `Bearer ${cfg.token}` },
  },
  userAuthentication: {
    endpoint: `${base}/pusher/user-auth`,
    transport: "ajax",
    headers: { Authorization: `Bearer ${cfg.userToken || cfg.token}` },
  },
};

if (cfg.echo) {
  const { default: Echo } = await import(
    new URL("../../../web/node_modules/laravel-echo/dist/echo.js", import.meta.url).href
  );
  echo = new Echo({
    broadcaster: "pusher",
    key: cfg.key,
    Pusher,
    wsHost: cfg.host,
    wsPort: cfg.port,
    wsPath: prefix,
    forceTLS: false,
    enabledTransports: ["ws"],
    cluster: "mt1",
    disableStats: true,
    authEndpoint: `${base}/pusher/auth`,
    bearerToken: cfg.token,
  });
  pusher = echo.connector.pusher;
} else {
  pusher = new Pusher(cfg.key, options);
}

pusher.connection.bind("state_change", ({ previous, current }) => {
  report({ type: "state", previous, current, socket_id: pusher.connection.socket_id || null });
});
pusher.connection.bind("error", (err) => {
  report({ type: "error", error: err && err.data ? err.data : String(err && err.type) });
});
pusher.user.bind_global((event, data) => {
  report({ type: "user_event", event, data });
});
for (const name of ["online", "offline"]) {
  pusher.user.watchlist.bind(name, (event) => {
    report({ type: "watchlist", name, user_ids: event.user_ids });
  });
}

const commands = {
  subscribe({ channel }) {
    watch(pusher.subscribe(channel));
  },
  bind({ channel, event }) {
    // Per-event callbacks get the metadata (user_id of client events); global ones do not.
    pusher.channel(channel).bind(event, (data, metadata) => {
      report({ type: "bound", channel, event, data, metadata: metadata || null });
    });
    // Said once the callback is in place: an event sent before this may miss it.
    report({ type: "listening", channel, event });
  },
  count({ channel }) {
    // What pusher-js keeps from the last pusher:subscription_count (null before any).
    report({ type: "count", channel, count: pusher.channel(channel).subscriptionCount ?? null });
  },
  unsubscribe({ channel }) {
    pusher.unsubscribe(channel);
    report({ type: "unsubscribed", channel });
  },
  trigger({ channel, event, data }) {
    let ok;
    try {
      ok = pusher.channel(channel).trigger(event, data);
    } catch (e) {
      report({ type: "trigger_refused", channel, error: String(e.message || e) });
      return;
    }
    report({ type: "triggered", channel, ok });
  },
  signin() {
    pusher.signin();
    pusher.user.signinDonePromise.then(() => {
      report({ type: "signed_in", user_data: pusher.user.user_data });
    });
  },
  echo_join({ room }) {
    echo
      .join(room)
      .here((members) => report({ type: "echo_here", room, members }))
      .joining((member) => report({ type: "echo_joining", room, member }))
      .leaving((member) => report({ type: "echo_leaving", room, member }))
      .listenForWhisper("typing", (data) => report({ type: "echo_whisper", room, data }))
      .error((err) => report({ type: "echo_error", room, err }));
  },
  echo_whisper({ room, data }) {
    echo.join(room).whisper("typing", data);
    report({ type: "echo_whispered", room });
  },
};

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  const run = commands[cmd.op];
  if (!run) {
    report({ type: "bad_command", op: cmd.op });
    return;
  }
  run(cmd);
});
lines.on("close", () => {
  pusher.disconnect();
  setTimeout(() => process.exit(0), 50);
});
