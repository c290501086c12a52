"""App ids, app keys and ``redis.prefix`` are safe names (ASCII letters, digits, '.', '_' and
'-', starting with a letter or a digit): anything else is a config error with its path."""

from __future__ import annotations

import pytest

from roomkey.config import ConfigError, parse_settings

APP = {"id": "1", "key": "k", "secret": "s" * 16}


def errors_of(data: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_settings(data)
    return err.value.errors


@pytest.mark.parametrize(
    ("app_id", "expected"),
    [
        ("1:subs", "must not contain ':'"),
        ("{1}", "must not contain '{'"),
        ("1}", "must not contain '}'"),
        ("a/b", "must not contain '/'"),
        ("a b", "must not contain ' '"),
        ("a\tb", "must not contain '\\t'"),
        ("1\n", "must not contain '\\n'"),
        ("1\x00", "must not contain '\\x00'"),
        ("app*", "must not contain '*'"),
        ("a%3A", "must not contain '%'"),
        ("\u0661\u0662", "must not contain '\u0661'"),  # Unicode digits are not ASCII digits
        ("café", "must not contain 'é'"),
        ("-1", "must start with a letter or a digit"),
        ("..", "must start with a letter or a digit"),
        ("1" * 65, "must be at most 64 characters"),
    ],
)
def test_unsafe_app_ids_are_refused(app_id: str, expected: str) -> None:
    assert errors_of({"apps": [{**APP, "id": app_id}]}) == [f"apps[0].id: {expected}"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a:b", "must not contain ':'"),
        ("key with space", "must not contain ' '"),
        ("k\r\n", "must not contain '\\r'"),
        ("k{x}", "must not contain '{'"),
        ("k/x", "must not contain '/'"),
        ("k?x", "must not contain '?'"),
        ("_k", "must start with a letter or a digit"),
        ("k" * 129, "must be at most 128 characters"),
    ],
)
def test_unsafe_app_keys_are_refused(key: str, expected: str) -> None:
    assert errors_of({"apps": [{**APP, "key": key}]}) == [f"apps[0].key: {expected}"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("roomkey:prod", "must not contain ':'"),
        ("", "must be a non-empty string"),
        ("{roomkey}", "must not contain '{'"),
        ("roomkey*", "must not contain '*'"),
        ("room key", "must not contain ' '"),
        ("roomkey\x1b", "must not contain '\\x1b'"),
        (".roomkey", "must start with a letter or a digit"),
        ("r" * 65, "must be at most 64 characters"),
    ],
)
def test_unsafe_redis_prefixes_are_refused(prefix: str, expected: str) -> None:
    errors = errors_of({"apps": [APP], "redis": {"prefix": prefix}})
    assert errors == [f"redis.prefix: {expected}"]


def test_the_colliding_pair_of_the_report_is_refused() -> None:
    """App ``1:subs`` beside app ``1`` is where the key collision was found."""
    errors = errors_of({"apps": [APP, {"id": "1:subs", "key": "k2", "secret": "s" * 16}]})
    assert errors == ["apps[1].id: must not contain ':'"]


def test_safe_names_are_accepted() -> None:
    settings = parse_settings(
        {
            "apps": [
                {**APP, "id": "1234567", "key": "278d425bdf160c739803"},
                {**APP, "id": "app-2.prod_eu", "key": "Key_2.x-y"},
                {**APP, "id": "i" * 64, "key": "k" * 128},
            ],
            "redis": {"prefix": "roomkey-staging.v2_eu"},
        }
    )
    assert [a.id for a in settings.apps] == ["1234567", "app-2.prod_eu", "i" * 64]
    assert settings.redis.prefix == "roomkey-staging.v2_eu"
