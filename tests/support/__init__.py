"""Helpers shared by roomkey's tests. Test modules import from here, never from each other;
``tests/conftest.py`` turns some of these into fixtures.

- ``apps``: the test apps, their secrets, and the JWTs that identify users.
- ``servers``: roomkey's real aiohttp application on a free loopback port.
- ``socketio_client``: a recording python-socketio client, and refused handshakes.
- ``raw_socketio``: Socket.IO over a hand-made WebSocket, for clients that misbehave.
- ``pusher``: a raw Pusher-protocol WebSocket client and the authorize calls a page makes.
- ``authorize``: ``POST /pusher/auth`` and friends, as a page's AJAX call.
- ``rest``: the official Python SDK and hand-signed REST requests.
- ``metrics``: ``/metrics`` scraped and parsed. ``webhooks``: a webhook target to record.
- ``redis_server``: a real redis-server per session or per test. ``backends``: backend
  settings with short timings, and a broker handler that records.
- ``cluster``: several nodes over one redis-server.
- ``processes``: ``roomkey serve`` as a process. ``embedded_host``: a host app that mounts
  roomkey, run as a process.
- ``node``: Node.js programs (``js/``): pusher-js, the Node SDKs, socket.io-client.
- ``browser``: Chromium through Playwright.
- ``hostile_http``: requests aiohttp's parser refuses, over raw sockets.
- ``readme``: what the README promises, read from it.
- ``waiting``: the one way to wait: on a condition, with a deadline.
- ``markers``: the markers of tests that need something beyond Python, and their checks.
- ``paths``: where the repository's files are.
"""
