"""The rules a client event (Pusher's ``client-`` events, sent by a browser to the other
subscribers of a channel) must pass before the hub relays it.

Pure: ``check_client_event`` reads the app's options and limits, the request, whether the
sender is subscribed and its rate window, and returns the window with this event counted. The
hub stores that window on the connection and publishes; a refused event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomkey.config import AppSettings
from roomkey.core.channels import CLIENT_EVENT_PREFIX, ChannelKind, channel_kind
from roomkey.core.errors import ClientEventRejected
from roomkey.core.protocol import TriggerRequest, data_as_text

# The rate is counted in fixed windows of this many seconds (``client_events_per_second``).
WINDOW_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class RateWindow:
    """A connection's client events in its current window: when the window started (on the
    clock the hub passes as ``now``, seconds) and how many events were relayed in it."""

    start: float = 0.0
    count: int = 0


# What a connection starts with (shared: a window is never changed, only replaced).
NO_EVENTS = RateWindow()


def check_client_event(
    app: AppSettings, req: TriggerRequest, *, subscribed: bool, window: RateWindow, now: float
) -> RateWindow:
    """The sender's window with ``req`` counted, if every rule holds; else
    ``ClientEventRejected`` (4301) naming the first rule broken, in this order: client events
    enabled for the app, the ``client-`` name prefix, a private or presence channel (never an
    encrypted one, whose data the relay cannot check), the sender ``subscribed`` to it, data
    (as text, in UTF-8 bytes) within ``max_event_data_bytes``, and at most
    ``client_events_per_second`` events in the sender's current window (0: no limit; a window
    lasts ``WINDOW_SECONDS`` from its first event). ``now``: the hub's clock, in seconds."""
    if not app.client_events:
        raise ClientEventRejected("client events are not enabled for this app")
    if not req.event.startswith(CLIENT_EVENT_PREFIX):
        raise ClientEventRejected("client event names must start with client-")
    kind = channel_kind(req.channel)
    if kind is ChannelKind.ENCRYPTED:
        # The relay cannot check what it cannot read; pusher-js refuses them too.
        raise ClientEventRejected("client events are not allowed on encrypted channels")
    if kind not in (ChannelKind.PRIVATE, ChannelKind.PRESENCE):
        raise ClientEventRejected("client events are only allowed on private and presence channels")
    if not subscribed:
        raise ClientEventRejected(f"not subscribed to {req.channel}")
    limit = app.limits.max_event_data_bytes
    if len(data_as_text(req.data).encode()) > limit:
        raise ClientEventRejected(f"event data is larger than {limit} bytes")
    if now - window.start >= WINDOW_SECONDS:
        window = RateWindow(now)
    rate = app.limits.client_events_per_second
    if rate and window.count >= rate:
        raise ClientEventRejected(f"over the client event rate ({rate} per second)")
    return RateWindow(window.start, window.count + 1)
