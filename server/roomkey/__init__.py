"""roomkey: a Pusher-compatible private-channel server on aiohttp and python-socketio."""

from __future__ import annotations

__version__ = "0.1.0"
