"""Which channels are cache channels and which tell their subscription count (pure grammar),
and the wire forms of the messages they add."""

from __future__ import annotations

import json

import pytest

from roomkey.core.channels import ChannelKind, channel_kind, counts_subscriptions, is_cache_channel
from roomkey.core.protocol import (
    CacheMiss,
    SubscriptionCount,
    WatchlistEvent,
    outbound_from_wire,
    outbound_to_wire,
)
from roomkey.transports.pusher.wire import encode_outbound as pusher_form
from roomkey.transports.socketio.wire import encode_outbound as socketio_form


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("cache-score", ChannelKind.PUBLIC),
        ("private-cache-score", ChannelKind.PRIVATE),
        ("private-encrypted-cache-score", ChannelKind.ENCRYPTED),
        ("presence-cache-score", ChannelKind.PRESENCE),
    ],
)
def test_cache_channels_keep_their_kind(name: str, kind: ChannelKind) -> None:
    assert is_cache_channel(name)
    assert channel_kind(name) is kind


@pytest.mark.parametrize(
    "name",
    ["score", "cachescore", "private-score", "presence-x-cache-y", "#server-to-user-cache-1"],
)
def test_other_channels_are_not_cache_channels(name: str) -> None:
    assert not is_cache_channel(name)


def test_counted_channels_are_the_non_presence_ones() -> None:
    assert counts_subscriptions("ticker")
    assert counts_subscriptions("private-x")
    assert counts_subscriptions("private-encrypted-x")
    assert counts_subscriptions("cache-x")
    assert not counts_subscriptions("presence-x")
    assert not counts_subscriptions("presence-cache-x")
    assert not counts_subscriptions("#server-to-user-7")


def test_pusher_forms() -> None:
    assert json.loads(pusher_form(CacheMiss("cache-a"))) == {
        "event": "pusher:cache_miss",
        "channel": "cache-a",
    }
    assert json.loads(pusher_form(SubscriptionCount("t", 3))) == {
        "event": "pusher_internal:subscription_count",
        "channel": "t",
        "data": '{"subscription_count":3}',
    }
    assert json.loads(pusher_form(WatchlistEvent("", "offline", ["1", "2"]))) == {
        "event": "pusher_internal:watchlist_events",
        "data": '{"events":[{"name":"offline","user_ids":["1","2"]}]}',
    }


def test_socketio_forms() -> None:
    def payload(message: object) -> object:
        return json.loads(socketio_form(message).data[1:])  # type: ignore[arg-type]

    assert payload(CacheMiss("cache-a")) == ["cache_miss", {"channel": "cache-a"}]
    assert payload(SubscriptionCount("t", 3)) == [
        "subscription_count",
        {"channel": "t", "subscription_count": 3},
    ]
    assert payload(WatchlistEvent("", "online", ["9"])) == [
        "watchlist",
        {"event": "online", "user_ids": ["9"]},
    ]


def test_subscription_counts_cross_the_broker() -> None:
    back = outbound_from_wire(json.loads(json.dumps(outbound_to_wire(SubscriptionCount("t", 4)))))
    assert isinstance(back, SubscriptionCount)
    assert (back.channel, back.count) == ("t", 4)
    for bad in (-1, "4", True, None):
        with pytest.raises(ValueError):
            outbound_from_wire({"t": "s", "channel": "t", "count": bad})
