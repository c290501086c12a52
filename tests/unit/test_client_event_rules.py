"""The client-event rules as the pure function the hub calls (``core/client_events.py``): each
rule in its order, the rate window, and a refusal that leaves the sender's window as it was.
The same rules over a real socket are in test_client_events.py."""

from __future__ import annotations

import pytest

from roomkey.config import AppSettings, Limits
from roomkey.core.client_events import NO_EVENTS, RateWindow, check_client_event
from roomkey.core.errors import ClientEventRejected
from roomkey.core.protocol import TriggerRequest

APP = AppSettings(
    id="1",
    key="k",
    secret="s" * 16,
    client_events=True,
    limits=Limits(max_event_data_bytes=10, client_events_per_second=2),
)
TYPING = TriggerRequest("private-room", "client-typing", "hi")


def check(
    req: TriggerRequest = TYPING,
    *,
    app: AppSettings = APP,
    subscribed: bool = True,
    window: RateWindow = NO_EVENTS,
    now: float = 100.0,
) -> RateWindow:
    return check_client_event(app, req, subscribed=subscribed, window=window, now=now)


@pytest.mark.parametrize(
    ("app", "req", "subscribed", "message"),
    [
        (
            AppSettings(id="1", key="k", secret="s" * 16),
            TriggerRequest("private-room", "typing", "x" * 99),
            False,
            "client events are not enabled for this app",
        ),
        (APP, TriggerRequest("private-room", "typing", "x" * 99), False, "must start with client-"),
        (
            APP,
            TriggerRequest("private-encrypted-room", "client-typing", "x" * 99),
            False,
            "not allowed on encrypted channels",
        ),
        (
            APP,
            TriggerRequest("public-room", "client-typing", "x" * 99),
            False,
            "only allowed on private and presence channels",
        ),
        (APP, TriggerRequest("presence-room", "client-typing", "x" * 99), False, "not subscribed"),
        (APP, TriggerRequest("presence-room", "client-typing", "x" * 99), True, "larger than 10"),
    ],
)
def test_each_rule_in_its_order(
    app: AppSettings, req: TriggerRequest, subscribed: bool, message: str
) -> None:
    """Every case also breaks the rules after the one named: the first broken one is said."""
    with pytest.raises(ClientEventRejected, match=message) as refused:
        check(req, app=app, subscribed=subscribed)
    assert refused.value.code == 4301


def test_data_is_measured_as_utf8_text() -> None:
    assert check(TriggerRequest("private-room", "client-e", "é" * 5)).count == 1
    with pytest.raises(ClientEventRejected, match="larger than 10"):
        check(TriggerRequest("private-room", "client-e", {"a": "12345678"}))


def test_the_rate_window_counts_then_refuses_then_starts_again() -> None:
    first = check(now=100.0)
    assert first == RateWindow(100.0, 1)
    second = check(window=first, now=100.5)
    assert second == RateWindow(100.0, 2)
    with pytest.raises(ClientEventRejected, match=r"over the client event rate \(2 per second\)"):
        check(window=second, now=100.9)
    assert check(window=second, now=101.0) == RateWindow(101.0, 1)


def test_no_rate_limit_when_zero() -> None:
    unlimited = AppSettings(
        id="1",
        key="k",
        secret="s" * 16,
        client_events=True,
        limits=Limits(client_events_per_second=0),
    )
    window = NO_EVENTS
    for _ in range(50):
        window = check(app=unlimited, window=window, now=5.0)
    assert window == RateWindow(5.0, 50)
