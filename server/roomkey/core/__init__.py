"""The pure core: channel grammar, signatures (the REST check included), errors, policy, wire
messages, apps, members and the client-event rules.

Imports neither aiohttp, python-socketio nor redis."""
