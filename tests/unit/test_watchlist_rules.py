"""The watchlist a sign-in's user_data carries: user ids in order without repeats, held to
the app's limits with errors that name them."""

from __future__ import annotations

import json

import pytest

from roomkey.config import AppSettings, Limits
from roomkey.core.errors import BadRequest, LimitExceeded
from roomkey.core.watchlist import checked_watchlist, watchlist_of

APP = AppSettings(id="1", key="k", secret="s" * 16)


def test_watchlist_read_from_user_data() -> None:
    assert watchlist_of('{"id":"a"}', APP) == ()
    assert watchlist_of('{"id":"a","watchlist":null}', APP) == ()
    assert watchlist_of('{"id":"a","watchlist":["b",7,"b"]}', APP) == ("b", "7")


def test_pushers_limit_of_100_by_default() -> None:
    assert len(checked_watchlist([str(i) for i in range(100)], APP)) == 100
    with pytest.raises(LimitExceeded, match="101 user ids, over the limit of 100"):
        checked_watchlist([str(i) for i in range(101)], APP)


def test_other_limits_and_types() -> None:
    small = AppSettings(id="1", key="k", secret="s" * 16, limits=Limits(max_watchlist_users=1))
    with pytest.raises(LimitExceeded, match="max_watchlist_users"):
        checked_watchlist(["a", "b"], small)
    unlimited = AppSettings(id="1", key="k", secret="s" * 16, limits=Limits(max_watchlist_users=0))
    assert len(checked_watchlist([str(i) for i in range(500)], unlimited)) == 500
    with pytest.raises(LimitExceeded, match="longer than 128"):
        checked_watchlist(["x" * 129], APP)
    for bad in ("a", {"a": 1}, [""], [None], [True], [1.5]):
        with pytest.raises(BadRequest):
            checked_watchlist(bad, APP)
    with pytest.raises(BadRequest):
        watchlist_of(json.dumps(["not", "an", "object"]), APP)
