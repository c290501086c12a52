"""The starter configuration ``roomkey init`` writes: production mode, one app, fresh random
secrets (never one of ``checks.SHIPPED_SECRETS``), every other setting at its default
(config.example.toml lists them all)."""

from __future__ import annotations

import base64
import secrets

STARTER_TEMPLATE = """\
# roomkey configuration, written by `roomkey init` with fresh random secrets.
# Every setting not here has its default: config.example.toml and docs/config.md list them.
# Any setting can be overridden by an environment variable (ROOMKEY_SERVER__PORT=7000,
# ROOMKEY_APPS__0__SECRET=...), and any key given as a file instead (secret_file =
# "/run/secrets/app"): docs/config.md, "Environment variables and secret files".
#
#   roomkey check-config {name}
#   roomkey serve --config {name}

[server]
host = "127.0.0.1"
port = 6001
mode = "production"
# Browser origins allowed to call the authorize endpoint and open sockets (empty: same origin).
allowed_origins = []

[jwt]
# HS256 secret your application signs its users' tokens with (at least 32 characters).
secret = "{jwt_secret}"

[[apps]]
id = "1"
key = "{app_key}"
# Signs channel grants and REST calls: keep it on your servers.
secret = "{app_secret}"
# 32 bytes, base64: the key private-encrypted- channels are derived from.
encryption_master_key = "{master_key}"

[[apps.rules]]
pattern = "private-user-{{user_id}}"
"""


def starter_config(name: str) -> str:
    """The starter file's text, with new random secrets; ``name``: how the file is called in
    its comments."""
    return STARTER_TEMPLATE.format(
        name=name,
        jwt_secret=secrets.token_urlsafe(48),
        app_key=secrets.token_hex(10),
        app_secret=secrets.token_urlsafe(32),
        master_key=base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
    )
