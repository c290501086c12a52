"""The Socket.IO transport (python-socketio on aiohttp)."""
