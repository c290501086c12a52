"""Pusher's leave delay as pure rules (``roomkey.webhooks.debounce``), on a clock the test
moves by hand."""

from __future__ import annotations

from typing import Any

from roomkey.webhooks.debounce import PendingEvents, Pushed, cancel_key, hold_key


def removed(channel: str = "presence-a", user: str = "u1") -> dict[str, Any]:
    return {"name": "member_removed", "channel": channel, "user_id": user}


def added(channel: str = "presence-a", user: str = "u1") -> dict[str, Any]:
    return {"name": "member_added", "channel": channel, "user_id": user}


def vacated(channel: str = "presence-a") -> dict[str, Any]:
    return {"name": "channel_vacated", "channel": channel}


def occupied(channel: str = "presence-a") -> dict[str, Any]:
    return {"name": "channel_occupied", "channel": channel}


def names(pending: PendingEvents, now: float) -> list[str]:
    claimed = pending.claim(now, 100)
    pending.ack([c.id for c in claimed])
    return [c.event["name"] for c in claimed]


def test_keys_pair_a_leave_with_its_rejoin_only() -> None:
    assert hold_key(removed()) == cancel_key(added()) != ""
    assert hold_key(vacated()) == cancel_key(occupied()) != ""
    assert hold_key(removed(user="u2")) != cancel_key(added())
    assert hold_key(removed(channel="presence-b")) != cancel_key(added())
    assert hold_key(vacated()) != hold_key(removed())
    # A channel and user that would join into another pair do not collide.
    assert hold_key(removed("presence-a", "b")) != hold_key(removed("presence-a\0b", ""))
    for event in (added(), occupied(), {"name": "cache_miss", "channel": "cache-a"}, {}):
        assert hold_key(event) == ""
    for event in (removed(), vacated(), {"name": "subscription_count", "channel": "a"}):
        assert cancel_key(event) == ""


def test_a_reload_within_the_window_sends_nothing() -> None:
    pending = PendingEvents(cap=100)
    for event in (vacated(), removed()):
        assert pending.push(event, 3.0, now=10.0) is Pushed.STORED
    assert names(pending, 12.0) == []
    assert pending.push(occupied(), 3.0, now=12.5) is Pushed.CANCELLED
    assert pending.push(added(), 3.0, now=12.5) is Pushed.CANCELLED
    assert len(pending) == 0
    assert names(pending, 100.0) == []


def test_a_leave_after_the_window_is_sent_once_and_the_rejoin_too() -> None:
    pending = PendingEvents(cap=100)
    pending.push(removed(), 3.0, now=10.0)
    assert pending.next_due() == 13.0
    assert names(pending, 12.999) == []
    assert names(pending, 13.0) == ["member_removed"]
    assert pending.push(added(), 3.0, now=13.5) is Pushed.STORED
    assert names(pending, 13.5) == ["member_added"]
    assert names(pending, 100.0) == []


def test_another_user_or_channel_does_not_cancel() -> None:
    pending = PendingEvents(cap=100)
    pending.push(removed(user="u1"), 3.0, now=0.0)
    pending.push(vacated("presence-a"), 3.0, now=0.0)
    pending.push(added(user="u2"), 3.0, now=1.0)
    pending.push(occupied("presence-b"), 3.0, now=1.0)
    assert names(pending, 1.0) == ["member_added", "channel_occupied"]
    assert names(pending, 3.0) == ["member_removed", "channel_vacated"]


def test_other_events_are_due_at_once_in_order_and_carried_as_they_are() -> None:
    pending = PendingEvents(cap=100)
    odd = {"name": "subscription_count", "channel": "c", "subscription_count": 3, "x": [1]}
    for event in (odd, {"name": "cache_miss", "channel": "cache-c"}, occupied()):
        pending.push(event, 3.0, now=0.0)
    claimed = pending.claim(0.0, 100)
    assert claimed[0].event == odd
    assert [c.event["name"] for c in claimed] == [
        "subscription_count",
        "cache_miss",
        "channel_occupied",
    ]


def test_no_delay_holds_nothing_and_cancels_nothing() -> None:
    pending = PendingEvents(cap=100)
    pending.push(removed(), 0.0, now=0.0)
    assert pending.push(added(), 0.0, now=0.0) is Pushed.STORED
    assert names(pending, 0.0) == ["member_removed", "member_added"]


def test_a_claimed_leave_can_no_longer_be_cancelled() -> None:
    pending = PendingEvents(cap=100)
    pending.push(removed(), 3.0, now=0.0)
    claimed = pending.claim(3.0, 100)
    assert pending.push(added(), 3.0, now=3.1) is Pushed.STORED
    pending.ack([c.id for c in claimed])
    assert names(pending, 3.1) == ["member_added"]


def test_the_cap_counts_held_due_and_claimed_events() -> None:
    pending = PendingEvents(cap=2)
    assert pending.push(removed(), 3.0, now=0.0) is Pushed.STORED
    assert pending.push(occupied("x"), 3.0, now=0.0) is Pushed.STORED
    claimed = pending.claim(0.0, 100)
    assert pending.push(occupied("y"), 3.0, now=0.0) is Pushed.FULL
    # A rejoin that cancels a held leave is never refused: it frees room.
    assert pending.push(added(), 3.0, now=0.0) is Pushed.CANCELLED
    pending.ack([c.id for c in claimed])
    assert len(pending) == 0


def test_released_events_come_back_due_and_limits_hold() -> None:
    pending = PendingEvents(cap=100)
    for i in range(5):
        pending.push(occupied(f"c{i}"), 3.0, now=0.0)
    first = pending.claim(0.0, 2)
    assert [c.event["channel"] for c in first] == ["c0", "c1"]
    assert pending.claim(0.0, 0) == []
    pending.release([c.id for c in first], now=1.0)
    rest = pending.claim(5.0, 100)
    assert sorted(c.event["channel"] for c in rest) == ["c0", "c1", "c2", "c3", "c4"]
    assert pending.next_due() is None
