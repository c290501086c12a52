// Validates a webhook with the official Node `pusher` SDK (from web/node_modules, via NODE_PATH).
// stdin: JSON {appId, key, secret, headers (lower-case keys), body (the raw string)}.
// Prints {"valid", "events"}.
const Pusher = require("pusher")

let input = ""
process.stdin.setEncoding("utf8")
process.stdin.on("data", (chunk) => (input += chunk))
process.stdin.on("end", () => {
  const opts = JSON.parse(input)
  const pusher = new Pusher({ appId: opts.appId, key: opts.key, secret: opts.secret })
  const webhook = pusher.webhook({ headers: opts.headers, rawBody: opts.body })
  const valid = webhook.isValid()
  console.log(JSON.stringify({ valid, events: valid ? webhook.getEvents() : null }))
})
