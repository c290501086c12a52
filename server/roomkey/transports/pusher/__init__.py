"""Pusher's own WebSocket protocol (protocol 7)."""
