"""Settings from outside the TOML file: ``ROOMKEY_...`` environment variables over it and
``<key>_file`` for any key, read by each setting's type, with path-qualified errors naming
where a value came from; ``read_config``'s record of those origins; what check-config shows."""

from __future__ import annotations

import base64
import pickle
import tomllib
from pathlib import Path

import pytest

from roomkey.config import ConfigError, parse_settings
from roomkey.config.reader import read_config
from roomkey.config.sources import redacted_url, shown_value
from roomkey.config.table import ExternalText

SECRET = "sources-test-secret-0123456789abcdef"
APP = {"id": "1", "key": "k1", "secret": SECRET}


def errors_of(data: dict[str, object], **environ: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_settings(data, environ=environ)
    return err.value.errors


def test_variables_override_the_file_by_the_settings_type() -> None:
    s = parse_settings(
        {"server": {"port": 6001}, "apps": [APP]},
        environ={
            "ROOMKEY_SERVER__PORT": "7000",
            "ROOMKEY_SERVER__COMPRESSION": "true",
            "ROOMKEY_SERVER__SHUTDOWN_TIMEOUT_SECONDS": "2.5",
            "ROOMKEY_SERVER__ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "ROOMKEY_SERVER__TRUSTED_PROXIES": '["10.0.0.0/8"]',
            "ROOMKEY_REDIS__URL": "redis://localhost:6379/0",
            "ROOMKEY_APPS__0__LIMITS__MAX_CONNECTIONS": "5",
            "ROOMKEY_APPS__0__NAME": "from the environment",
        },
    )
    assert s.server.port == 7000 and type(s.server.port) is int
    assert s.server.compression is True
    assert s.server.shutdown_timeout_seconds == 2.5
    assert s.server.allowed_origins == ("https://a.example", "https://b.example")
    assert s.server.trusted_proxies == ("10.0.0.0/8",)
    assert s.redis.url == "redis://localhost:6379/0"
    assert s.apps[0].limits.max_connections == 5
    assert s.apps[0].name == "from the environment" and type(s.apps[0].name) is str


def test_a_whole_app_can_come_from_the_environment() -> None:
    s = parse_settings(
        {},
        environ={
            "ROOMKEY_APPS__0__ID": "7",
            "ROOMKEY_APPS__0__KEY": "key-7",
            "ROOMKEY_APPS__0__SECRET": SECRET,
            "ROOMKEY_APPS__0__RULES__0__PATTERN": "private-*",
        },
    )
    (app,) = s.apps
    assert (app.id, app.key, app.secret) == ("7", "key-7", SECRET)
    assert [r.pattern for r in app.rules] == ["private-*"]


def test_a_wrong_value_names_its_path_and_its_variable() -> None:
    assert errors_of({"apps": [APP]}, ROOMKEY_SERVER__PORT="seven") == [
        "server.port: must be an integer (from env ROOMKEY_SERVER__PORT)"
    ]
    assert errors_of({"apps": [APP]}, ROOMKEY_SERVER__MODE="prod") == [
        "server.mode: must be one of production, development (from env ROOMKEY_SERVER__MODE)"
    ]


def test_unknown_and_misplaced_variables_are_errors() -> None:
    assert errors_of({"apps": [APP]}, ROOMKEY_SERVR__PORT="1") == [
        "servr: unknown setting (from env ROOMKEY_SERVR__PORT)"
    ]
    assert errors_of({"apps": [APP]}, ROOMKEY_APPS__2__ID="x") == [
        "ROOMKEY_APPS__2__ID: index 2 leaves a gap (1 item(s) before it)"
    ]
    assert errors_of({"apps": [APP]}, ROOMKEY_APPS__ONE__ID="x")[0].startswith(
        "ROOMKEY_APPS__ONE__ID: apps is an array of tables: expected an index"
    )


def test_variables_that_are_not_settings_are_left_alone() -> None:
    s = parse_settings({"apps": [APP]}, environ={"ROOMKEY_DRIVER": "{}", "ROOMKEY_X": "1"})
    assert s.apps[0].id == "1"


def test_parse_settings_reads_no_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROOMKEY_SERVER__PORT", "7000")
    assert parse_settings({"apps": [APP]}).server.port == 6001


def test_a_secret_from_a_file_wins_over_the_inline_value(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")  # the newline of `echo ... > file` is not part of it
    app = {**APP, "secret": "inline-secret-0123456789", "secret_file": str(secret_file)}
    assert parse_settings({"apps": [app]}).apps[0].secret == SECRET


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    master = base64.b64encode(bytes(range(1, 33))).decode()
    s = parse_settings(
        {
            "jwt": {"secret_file": write("jwt", "j" * 40 + "\n")},
            "redis": {"url_file": write("url", "redis://:pw@localhost:6379/0\n")},
            "session": {"redis_url_file": write("surl", "redis://:pw@localhost:6380/0")},
            "apps": [
                {
                    "id": "1",
                    "key": "k1",
                    "secret_file": write("app", SECRET),
                    "encryption_master_key_file": write("master", master + "\n"),
                }
            ],
        }
    )
    assert s.jwt.secret == "j" * 40
    assert s.redis.url == "redis://:pw@localhost:6379/0"
    assert s.session.redis_url == "redis://:pw@localhost:6380/0"
    assert s.apps[0].secret == SECRET
    assert s.apps[0].encryption_master_key == bytes(range(1, 33))


def test_an_unreadable_file_is_one_error_naming_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    app = {"id": "1", "key": "k1", "secret_file": str(missing)}
    assert errors_of({"apps": [app]}) == [
        f"apps[0].secret_file: cannot read {missing} (No such file or directory)"
    ]


def test_a_variable_replaces_both_forms_of_its_key(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("file-secret-0123456789abcdef")
    app = {**APP, "secret_file": str(secret_file)}
    s = parse_settings({"apps": [app]}, environ={"ROOMKEY_APPS__0__SECRET": SECRET})
    assert s.apps[0].secret == SECRET
    s = parse_settings({"apps": [APP]}, environ={"ROOMKEY_APPS__0__SECRET_FILE": str(secret_file)})
    assert s.apps[0].secret == "file-secret-0123456789abcdef"


def test_read_config_says_where_each_value_came_from(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    path = tmp_path / "roomkey.toml"
    path.write_text(
        '[server]\nhost = "127.0.0.1"\n[[apps]]\nid = "1"\nkey = "k1"\n'
        f'secret_file = "{secret_file}"\n'
    )
    loaded = read_config(path, environ={"ROOMKEY_SERVER__PORT": "7000"})
    assert loaded.settings.server.port == 7000
    assert loaded.sources == {
        "server.host": f"file {path}",
        "server.port": "env ROOMKEY_SERVER__PORT",
        "apps[0].id": f"file {path}",
        "apps[0].key": f"file {path}",
        "apps[0].secret": f"file {secret_file} named by apps[0].secret_file",
    }


def test_shown_values_never_include_a_secret() -> None:
    assert shown_value("apps[0].secret", SECRET) == "(secret, not shown)"
    assert shown_value("jwt.secret", "x") == "(secret, not shown)"
    assert shown_value("apps[0].encryption_master_key", b"k") == "(secret, not shown)"
    assert shown_value("redis.url", "redis://u:pw@h:1/0") == "redis://u:***@h:1/0"
    assert shown_value("server.port", 7000) == "7000"
    assert redacted_url("redis://localhost:6379/0") == "redis://localhost:6379/0"


def test_external_text_survives_pickling() -> None:
    # Settings go to --workers processes by pickle; a value must never stay ExternalText,
    # and if one did, it must pickle.
    text = ExternalText("7000", "env ROOMKEY_SERVER__PORT")
    again = pickle.loads(pickle.dumps(text))
    assert again == "7000" and again.origin == text.origin


def test_the_toml_value_forms_of_the_docs() -> None:
    # docs/config.md: numbers, booleans and arrays as in TOML; a list also as a,b.
    doc = tomllib.loads('v = ["a", "b"]')["v"]
    s = parse_settings({"apps": [APP]}, environ={"ROOMKEY_SESSION__USER_INFO_KEYS": "a,b"})
    assert list(s.session.user_info_keys) == doc
