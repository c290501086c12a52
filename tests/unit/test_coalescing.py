"""The coalescer behind subscription counts: a burst within an interval is one report."""

from __future__ import annotations

from roomkey.core.coalescing import Coalescer


def test_a_burst_is_one_report_at_the_end_of_its_interval() -> None:
    c: Coalescer[str] = Coalescer()
    assert c.mark("a", 0.0, 1.0) is True
    assert c.mark("a", 0.3, 1.0) is False
    assert c.mark("a", 0.9, 1.0) is False
    assert c.next_due() == 1.0
    assert c.take_due(0.99) == []
    assert c.take_due(1.0) == ["a"]
    assert c.take_due(5.0) == []
    assert c.next_due() is None


def test_keys_are_apart_and_a_new_change_starts_a_new_interval() -> None:
    c: Coalescer[tuple[str, str]] = Coalescer()
    c.mark(("1", "x"), 0.0, 1.0)
    c.mark(("1", "y"), 0.5, 0.2)
    assert c.next_due() == 0.7
    assert c.take_due(0.8) == [("1", "y")]
    assert c.take_due(1.0) == [("1", "x")]
    assert c.mark(("1", "x"), 1.5, 1.0) is True
    assert c.next_due() == 2.5
    c.discard(("1", "x"))
    assert len(c) == 0
