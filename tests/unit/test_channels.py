"""Channel names, socket ids and event names: the grammar of docs/protocol.md."""

from __future__ import annotations

import re

import pytest

from roomkey.core.channels import (
    ChannelKind,
    channel_kind,
    new_socket_id,
    validate_channel_name,
    validate_event_name,
    validate_published_event_name,
    validate_socket_id,
)
from roomkey.core.errors import BadRequest


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("private-encrypted-a", ChannelKind.ENCRYPTED),
        ("private-a", ChannelKind.PRIVATE),
        ("presence-a", ChannelKind.PRESENCE),
        ("#server-to-user-42", ChannelKind.SERVER_TO_USER),
        ("public-a", ChannelKind.PUBLIC),
        ("privatex", ChannelKind.PUBLIC),
    ],
)
def test_kind_by_prefix(name: str, kind: ChannelKind) -> None:
    assert channel_kind(validate_channel_name(name)) is kind


def test_every_allowed_character_and_the_length_limit() -> None:
    assert validate_channel_name("Az09_-=@,.;") == "Az09_-=@,.;"
    assert validate_channel_name("a" * 164) == "a" * 164


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a" * 165, "longer than 164"),
        ("", "must not be empty"),
        ("bad channel", "may only contain"),
        ("chan/../x", "may only contain"),
        ("caf\u00e9", "may only contain"),
        ("#server-to-user-", "may only contain"),
        ("#other", "may only contain"),
        (42, "must be a string"),
        (None, "must be a string"),
        (["private-a"], "must be a string"),
    ],
)
def test_bad_channel_names_name_the_problem(value: object, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        validate_channel_name(value)
    assert message in err.value.message
    assert err.value.message.startswith("channel ")
    assert err.value.code == 4300 and err.value.status == 400


def test_socket_ids_are_pusher_shaped_random_and_unique() -> None:
    ids = {new_socket_id() for _ in range(2000)}
    assert len(ids) == 2000
    for sid in ids:
        assert re.fullmatch(r"\d+\.\d+", sid)
        assert validate_socket_id(sid) == sid


@pytest.mark.parametrize(
    "value",
    ["", "1234", "1234.", ".1234", "12a.34", "1.2.3", "1 .2", 1234.5, None, "1" * 21 + ".1"],
)
def test_bad_socket_ids(value: object) -> None:
    with pytest.raises(BadRequest, match="socket_id"):
        validate_socket_id(value)


def test_event_names() -> None:
    assert validate_event_name("e" * 200) == "e" * 200
    for bad in ("", "e" * 201, 3):
        with pytest.raises(BadRequest):
            validate_event_name(bad)
    for reserved in ("pusher:subscribe", "pusher_internal:member_added"):
        with pytest.raises(BadRequest, match="reserved"):
            validate_published_event_name(reserved)
    assert validate_published_event_name("client-x") == "client-x"
