// Publishes with the official Node `pusher` SDK (from web/node_modules, via NODE_PATH).
// argv[2]: JSON {appId, key, secret, port, calls: [{channels, event, data, params}]}.
// Prints one JSON line per call: {"status", "body"} or {"error", "status", "body"}.
const Pusher = require("pusher")

async function main() {
  const opts = JSON.parse(process.argv[2])
  const pusher = new Pusher({
    appId: opts.appId,
    key: opts.key,
    secret: opts.secret,
    host: "127.0.0.1",
    port: String(opts.port),
    useTLS: false,
    timeout: 5000,
  })
  for (const call of opts.calls) {
    try {
      const res = call.batch
        ? await pusher.triggerBatch(call.batch)
        : await pusher.trigger(call.channels, call.event, call.data, call.params)
      console.log(JSON.stringify({ status: res.status, body: await res.json() }))
    } catch (err) {
      console.log(JSON.stringify({ error: err.message, status: err.status, body: err.body }))
    }
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
