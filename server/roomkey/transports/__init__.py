"""The wire protocols: Socket.IO and Pusher's WebSocket protocol, both on one hub."""
