"""Channel rules: patterns, placeholders, required claims, first match wins, default deny;
and a Python callable that replaces them when roomkey is embedded, as one of the two policy
types (decided at once, or awaited), chosen once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roomkey.config import AppSettings, RuleSettings
from roomkey.core.policy import (
    AsyncFunctionPolicy,
    AsyncPolicy,
    FirstCallPolicy,
    FunctionPolicy,
    RulePolicy,
    SyncPolicy,
    policy_for,
)
from roomkey.identity.base import Identity
from tests.support.apps import make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient

RULES = (
    RuleSettings("private-user-{user_id}"),
    RuleSettings("private-team-{team}-*"),
    RuleSettings("private-admin-*", claims=(("role", "admin"),)),
    RuleSettings("private-staff-*", claims=(("staff", "true"), ("level", "3"))),
    RuleSettings("private-blocked-*", allow=False),
    RuleSettings("private-*-open"),
    RuleSettings("presence-lobby"),
)
APP = AppSettings(id="1", key="k", secret="s" * 16, rules=RULES)
ADA = Identity("7", claims={"team": "red", "role": "admin", "staff": True, "level": 3})
BOB = Identity("8", claims={"team": "blue", "role": "user"})


@pytest.mark.parametrize(
    ("identity", "channel", "allowed"),
    [
        (ADA, "private-user-7", True),
        (ADA, "private-user-8", False),  # another user's channel: no rule matches
        (ADA, "private-user-77", False),  # placeholders match the whole value only
        (ADA, "private-team-red-chat", True),
        (BOB, "private-team-red-chat", False),
        (BOB, "private-team-blue-", True),  # * matches the empty run too
        (ADA, "private-admin-panel", True),
        (BOB, "private-admin-panel", False),
        (ADA, "private-staff-room", True),  # bool and int claims compare as text
        (BOB, "private-staff-room", False),
        (ADA, "private-blocked-open", False),  # first match wins: the deny comes first
        (BOB, "private-anything-open", True),
        (BOB, "presence-lobby", True),
        (BOB, "presence-lobby2", False),
        (BOB, "private-encrypted-x", False),  # default deny
        (Identity("a.b"), "private-user-a.b", True),
        (Identity("a.b"), "private-user-aXb", False),  # the value is literal, not a regex
    ],
)
async def test_rules(identity: Identity, channel: str, allowed: bool) -> None:
    assert RulePolicy((APP,)).allows(APP, identity, channel) is allowed


async def test_an_app_without_rules_denies_everything() -> None:
    bare = replace(APP, id="2", rules=())
    assert RulePolicy((APP, bare)).allows(bare, ADA, "private-user-7") is False


async def test_rules_decide_over_http(start_server: StartServer) -> None:
    server = await start_server(make_settings(rules=RULES))
    fields = {"socket_id": "1.2", "channel_name": "private-admin-x"}
    status, _, _ = await post_auth(server, fields, token=make_token("7", role="admin"))
    assert status == 200
    status, body, _ = await post_auth(server, fields, token=make_token("7", role="user"))
    assert status == 403 and body["error"]["code"] == 4009


async def test_callable_policy_replaces_the_rules(
    start_server: StartServer, connect: ConnectClient
) -> None:
    seen: list[tuple[str, str, str]] = []

    async def only_vip(app: AppSettings, identity: Identity, channel: str) -> bool:
        seen.append((app.id, identity.user_id, channel))
        return channel == f"private-vip-{identity.user_id}"

    server = await start_server(policy=only_vip)
    token = make_token("7")
    status, _, _ = await post_auth(
        server, {"socket_id": "1.2", "channel_name": "private-vip-7"}, token=token
    )
    assert status == 200
    # private-user-7 is allowed by the config rules, but the callable replaced them.
    status, _, _ = await post_auth(
        server, {"socket_id": "1.2", "channel_name": "private-user-7"}, token=token
    )
    assert status == 403
    client = await connect(server, token=token)
    assert await client.subscribe("private-vip-7") == {"channel": "private-vip-7"}
    assert (await client.subscribe("private-user-7"))["error"]["code"] == 4009
    assert ("101", "7", "private-user-7") in seen


async def test_sync_callable_policy(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(policy=lambda app, identity, channel: channel.endswith("-ok"))
    client = await connect(server, token=make_token("7"))
    assert await client.subscribe("private-x-ok") == {"channel": "private-x-ok"}
    assert (await client.subscribe("private-x"))["error"]["code"] == 4009


# -- the two policy types, chosen once ------------------------------------------------------


def test_an_async_def_is_an_async_policy_and_a_plain_function_waits_for_its_first_call() -> None:
    async def decide(app: AppSettings, identity: Identity, channel: str) -> bool:
        return True

    class Checker:
        async def __call__(self, app: AppSettings, identity: Identity, channel: str) -> bool:
            return True

    assert isinstance(policy_for(decide), AsyncFunctionPolicy)
    assert isinstance(policy_for(Checker()), AsyncFunctionPolicy)
    assert isinstance(policy_for(lambda app, identity, channel: True), FirstCallPolicy)


async def test_a_plain_function_answering_at_once_becomes_a_sync_policy(
    start_server: StartServer,
) -> None:
    calls: list[str] = []

    def decide(app: AppSettings, identity: Identity, channel: str) -> bool:
        calls.append(channel)
        return channel.endswith("-ok")

    server = await start_server(policy=decide)
    token = make_token("7")
    for channel, expected in [("private-a-ok", 200), ("private-b", 403), ("private-c-ok", 200)]:
        status, _, _ = await post_auth(
            server, {"socket_id": "1.2", "channel_name": channel}, token=token
        )
        assert status == expected, channel
        # After its first call the runtime holds a policy that decides at once: the
        # authorize endpoint awaits nothing for it.
        assert isinstance(server.runtime.policy, SyncPolicy)
    assert calls == ["private-a-ok", "private-b", "private-c-ok"]


async def test_a_plain_function_returning_an_awaitable_is_awaited(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async def lookup(channel: str) -> bool:
        return channel.endswith("-ok")

    server = await start_server(policy=lambda app, identity, channel: lookup(channel))
    token = make_token("7")
    status, _, _ = await post_auth(
        server, {"socket_id": "1.2", "channel_name": "private-x-ok"}, token=token
    )
    assert status == 200
    assert isinstance(server.runtime.policy, AsyncPolicy)
    status, body, _ = await post_auth(
        server, {"socket_id": "1.2", "channel_name": "private-x"}, token=token
    )
    assert status == 403 and body["error"]["code"] == 4009
    client = await connect(server, token=token)
    assert await client.subscribe("private-y-ok") == {"channel": "private-y-ok"}
    assert (await client.subscribe("private-y"))["error"]["code"] == 4009


async def test_a_function_that_answered_at_once_may_not_answer_with_an_awaitable_later() -> None:
    async def later() -> bool:
        return True

    answers: list[object] = [True]
    policy = FirstCallPolicy(lambda app, identity, channel: answers.pop(0))
    assert await policy.allows(APP, ADA, "private-a") is True
    known = policy.known
    assert isinstance(known, FunctionPolicy)
    answers.append(later())
    with pytest.raises(TypeError, match="async def"):
        known.allows(APP, ADA, "private-b")
