"""The Socket.IO wire form of what roomkey sends: Engine.IO packets carrying Socket.IO EVENT
and ACK packets on the default namespace, JSON text only.

Wire contract: docs/protocol.md. A delivery (``encode_outbound``) is encoded once per message
into one Engine.IO packet, cached on the message and queued as is on every recipient's
Engine.IO socket (the packet caches its own encoding); its WebSocket frame is ``frame_text``
wrapped by ``websocket_frames.message_frame``.
"""

from __future__ import annotations

from typing import Any

from engineio import packet as eio_packet
from socketio import packet as sio_packet

from roomkey._patches.socketio_queue import remember_size
from roomkey.core.protocol import (
    CacheMiss,
    ChannelEvent,
    MemberAdded,
    MemberRemoved,
    Outbound,
    Relayed,
    SubscriptionCount,
    WatchlistEvent,
    dumps,
)

NAMESPACE = "/"
# The key of each form in ``Outbound.encoded``: the packet, and its WebSocket frame.
PACKET_KEY = "sio"
FRAME_KEY = "sio-frame"


def event_packet(event: str, payload: Any) -> eio_packet.Packet:
    """One Engine.IO MESSAGE carrying a Socket.IO EVENT ``[event, payload]``."""
    text = f"{sio_packet.EVENT}{dumps([event, payload])}"
    pkt = eio_packet.Packet(eio_packet.MESSAGE, data=text)
    remember_size(pkt, len(text.encode()) + 1)  # measured once, shared by recipients
    return pkt


def ack_packet(ack_id: int, payload: Any) -> eio_packet.Packet:
    """One Engine.IO MESSAGE carrying a Socket.IO ACK of request ``ack_id`` with ``payload``."""
    return eio_packet.Packet(eio_packet.MESSAGE, data=f"{sio_packet.ACK}{ack_id}{dumps([payload])}")


def encode_outbound(message: Outbound) -> eio_packet.Packet:
    """The Socket.IO form of a delivery, built once per message and cached on it."""
    cached = message.encoded.get(PACKET_KEY)
    if cached is not None:
        return cached
    if isinstance(message, Relayed):
        # Built by the publishing node: sent as it is.
        pkt = eio_packet.Packet(eio_packet.MESSAGE, data=message.socketio)
        remember_size(pkt, len(message.socketio.encode()) + 1)
    elif isinstance(message, ChannelEvent):
        pkt = event_packet("event", message.as_dict())
    elif isinstance(message, MemberAdded):
        pkt = event_packet(
            "member_added",
            {
                "channel": message.channel,
                "user_id": message.user_id,
                "user_info": message.user_info,
            },
        )
    elif isinstance(message, MemberRemoved):
        pkt = event_packet(
            "member_removed", {"channel": message.channel, "user_id": message.user_id}
        )
    elif isinstance(message, SubscriptionCount):
        pkt = event_packet(
            "subscription_count",
            {"channel": message.channel, "subscription_count": message.count},
        )
    elif isinstance(message, CacheMiss):
        pkt = event_packet("cache_miss", {"channel": message.channel})
    elif isinstance(message, WatchlistEvent):
        pkt = event_packet("watchlist", {"event": message.name, "user_ids": message.user_ids})
    else:
        raise TypeError(f"cannot encode {message!r}")
    message.encoded[PACKET_KEY] = pkt
    return pkt


def frame_text(message: Outbound) -> str:
    """The text a delivery's WebSocket frame carries: its Engine.IO packet, encoded."""
    text: str = encode_outbound(message).encode()
    return text
