"""Socket.IO handshakes that are expected to be refused."""

from __future__ import annotations

from typing import Any

import socketio

from tests.conftest import Server


async def refused(
    server: Server,
    auth: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> Any:
    """Connect and expect a refusal; returns the ``connect_error`` data (the client's own
    message when the refusal came before Socket.IO, e.g. an origin refused by Engine.IO)."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data=None: errors.append(data))
    try:
        await client.connect(
            server.url + query,
            auth=auth,
            headers=headers or {},
            transports=["websocket"],
            wait_timeout=5,
        )
    except socketio.exceptions.ConnectionError:
        return errors[0] if errors else None
    finally:
        await client.disconnect()
    raise AssertionError("the connection was accepted")
