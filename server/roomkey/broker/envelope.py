"""What a message looks like between nodes: the envelope a node publishes on a channel's pub/sub
name, and how a node that hears it gets back ``(message, exclude)`` with the least work.

Two forms, both always read:

- JSON: ``{"n": node_id, "x": exclude, "m": wire}`` (``core/protocol.outbound_to_wire``).
  The hearing node decodes the whole message and its transports encode it again.
- Relayed (``performance.relay_frames``): ``R1\\n<node_id>\\n<exclude>\\n<socketio>\\n<pusher>``,
  UTF-8, where ``socketio`` and ``pusher`` are the message's wire forms as the publishing node
  built them for its own subscribers (compact JSON never holds a raw newline, and neither a
  node id nor a socket id does, so the fields split unambiguously). The hearing node compares
  the node id as bytes (its own messages are dropped before anything is decoded), decodes no
  JSON at all, and hands on a ``Relayed`` message whose forms each transport sends as they
  are. The channel is the one the pub/sub name says: it is not repeated.

Nothing is unpickled or executed; anything malformed raises ``ValueError`` (the listener
drops and counts it).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from roomkey.core.protocol import Outbound, Relayed, dumps, outbound_from_wire, outbound_to_wire

# A message's wire forms for the other nodes: (Socket.IO packet text, Pusher frame text).
WireForms = Callable[[Outbound], tuple[str, str]]

RELAYED = b"R1"
_SEP = b"\n"


def encode(node_id: str, message: Outbound, exclude: str | None, forms: WireForms | None) -> str:
    """The envelope of ``message`` published by ``node_id``: relayed when ``forms`` is given
    and every field fits on its line, JSON otherwise. ``message`` may be a ``Relayed`` one
    only when ``forms`` is given."""
    if forms is not None and (exclude is None or "\n" not in exclude) and "\n" not in node_id:
        socketio, pusher = forms(message)
        return "\n".join(("R1", node_id, exclude or "", socketio, pusher))
    return dumps({"n": node_id, "x": exclude, "m": outbound_to_wire(message)})


def decode(data: bytes, own_node: bytes, channel: str) -> tuple[Outbound, str | None] | None:
    """``(message, exclude)`` from an envelope heard on ``channel``'s pub/sub name; None when
    ``own_node`` (the listener's node id, as bytes) published it (delivered locally then).
    ``ValueError`` when it is malformed or names another channel."""
    if data[:3] == b"R1\n":
        parts = data.split(_SEP, 4)
        if len(parts) != 5:
            raise ValueError("relayed envelope has too few fields")
        if parts[1] == own_node:
            return None
        exclude = parts[2].decode() or None
        return Relayed(channel, parts[3].decode(), parts[4].decode()), exclude
    envelope = json.loads(data)
    if not isinstance(envelope, dict):
        raise ValueError("envelope is not an object")
    if envelope.get("n") == own_node.decode():
        return None
    exclude = envelope.get("x")
    if exclude is not None and not isinstance(exclude, str):
        raise ValueError("bad exclude")
    message = outbound_from_wire(envelope.get("m"))
    if message.channel != channel:
        raise ValueError("message channel does not match its redis channel")
    return message, exclude
