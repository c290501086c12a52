"""The pure core: channel grammar, signatures, errors, policy, wire messages, apps and members.

Imports neither aiohttp, python-socketio nor redis."""
