"""The pure authorize core: what it signs, and that the per-identity memo of presence
``channel_data`` and sign-in ``user_data`` never carries one app's answer into another's."""

from __future__ import annotations

import json

import pytest

from roomkey.config import AppSettings, Limits, RuleSettings
from roomkey.core.errors import BadRequest, Forbidden, PayloadTooLarge
from roomkey.core.policy import AsyncFunctionPolicy, RulePolicy
from roomkey.core.signing import sign_channel, sign_user
from roomkey.hub.authorization import (
    authorize_channel,
    authorize_channel_async,
    authorize_user,
)
from roomkey.identity.base import Identity

RULES = (RuleSettings("presence-*"), RuleSettings("private-*"))
ROOMY = AppSettings(id="a", key="key-a", secret="secret-a", rules=RULES)
TIGHT = AppSettings(
    id="b", key="key-b", secret="secret-b", rules=RULES, limits=Limits(max_user_info_bytes=16)
)
POLICY = RulePolicy((ROOMY, TIGHT))


def identity() -> Identity:
    return Identity(user_id="7", user_info={"name": "Ada Lovelace, Countess"})


async def test_presence_answer_signs_the_channel_data_it_returns() -> None:
    ident = identity()
    body = authorize_channel(ROOMY, POLICY, ident, "1.2", "presence-room")
    assert isinstance(body, dict)  # the configured rules answer at once, never an awaitable
    assert json.loads(body["channel_data"]) == {
        "user_id": "7",
        "user_info": {"name": "Ada Lovelace, Countess"},
    }
    assert body["auth"] == sign_channel(
        "key-a", "secret-a", "1.2", "presence-room", body["channel_data"]
    )
    # Served again from the memo: the same text, signed for the new socket and channel.
    again = authorize_channel(ROOMY, POLICY, ident, "3.4", "presence-other")
    assert isinstance(again, dict)
    assert again["channel_data"] == body["channel_data"]
    assert again["auth"] == sign_channel(
        "key-a", "secret-a", "3.4", "presence-other", body["channel_data"]
    )


async def test_memo_is_per_app_so_each_app_limit_still_applies() -> None:
    ident = identity()
    authorize_channel(ROOMY, POLICY, ident, "1.2", "presence-room")
    assert authorize_user(ROOMY, ident, "1.2")["user_data"]
    # The same identity in an app whose user_info limit it exceeds: refused, not served the
    # other app's memoized text.
    with pytest.raises(PayloadTooLarge):
        authorize_channel(TIGHT, POLICY, ident, "1.2", "presence-room")
    with pytest.raises(PayloadTooLarge):
        authorize_user(TIGHT, ident, "1.2")


async def test_user_data_is_memoized_and_signed_per_socket() -> None:
    ident = identity()
    first = authorize_user(ROOMY, ident, "1.2")
    second = authorize_user(ROOMY, ident, "5.6")
    assert first["user_data"] == second["user_data"]
    assert json.loads(first["user_data"])["id"] == "7"
    assert second["auth"] == sign_user("key-a", "secret-a", "5.6", first["user_data"])
    assert identity() == ident  # the memo is not part of equality


def test_the_configured_rules_answer_without_awaiting() -> None:
    # RulePolicy decides at once: the answer is the dict itself, refusals raise at once.
    body = authorize_channel(ROOMY, POLICY, identity(), "1.2", "private-a")
    assert body == {"auth": sign_channel("key-a", "secret-a", "1.2", "private-a")}
    presence_only = AppSettings(
        id="c", key="key-c", secret="secret-c", rules=(RuleSettings("presence-*"),)
    )
    with pytest.raises(Forbidden):
        authorize_channel(
            presence_only, RulePolicy((presence_only,)), identity(), "1.2", "private-a"
        )
    with pytest.raises(BadRequest):
        authorize_channel(ROOMY, POLICY, identity(), "1.2", "public-room")


async def test_an_async_policy_is_awaited_and_only_for_channels_that_need_it() -> None:
    asked: list[str] = []

    async def decide(app: AppSettings, ident: Identity, channel: str) -> bool:
        asked.append(channel)
        return channel.endswith("-ok")

    policy = AsyncFunctionPolicy(decide)
    pending = authorize_channel_async(ROOMY, policy, identity(), "1.2", "private-ok")
    assert not isinstance(pending, dict)
    assert await pending == {"auth": sign_channel("key-a", "secret-a", "1.2", "private-ok")}
    with pytest.raises(Forbidden):
        await authorize_channel_async(ROOMY, policy, identity(), "1.2", "private-no")
    with pytest.raises(BadRequest):
        await authorize_channel_async(ROOMY, policy, identity(), "1.2", "public-ok")
    assert asked == ["private-ok", "private-no"]  # never asked about a public channel
