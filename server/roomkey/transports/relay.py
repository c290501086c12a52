"""The wire forms of a delivery that a node publishes for the other nodes to relay as they are
(``performance.relay_frames``, ``broker/envelope.py``): the Socket.IO packet's text and the
Pusher frame's text, each the one its transport builds (and caches on the message) for this
node's own subscribers."""

from __future__ import annotations

from roomkey.core.protocol import Outbound
from roomkey.transports.pusher import wire as pusher_wire
from roomkey.transports.socketio import wire as socketio_wire


def wire_forms(message: Outbound) -> tuple[str, str]:
    """``(socketio, pusher)``: built once per message, shared with local delivery."""
    packet_text: str = socketio_wire.encode_outbound(message).data
    return packet_text, pusher_wire.encode_outbound(message)
