"""Settings: read once from TOML (or built in code) into frozen dataclasses.

The modules, each importing only those above it (no cycle):

- ``table``: ``TableReader``, typed and path-aware reading of one TOML table (values from
  outside the file too: ``ExternalText``, ``<key>_file``); ``ConfigError``.
- ``sources``: ``ROOMKEY_...`` environment variables put over the file's tables; how
  ``roomkey check-config`` shows a value (secrets never).
- ``values``: the ``setting()`` spec a field carries, the checks and readers of one value.
- ``settings``: the frozen dataclasses, one field per setting.
- ``presets``: the development preset and its public credentials.
- ``sections``: one table into its dataclass, driven by the dataclass's fields.
- ``checks``: what keeps a whole configuration from being served (published secrets...).
- ``identity_checks``: identity settings that cannot work together.
- ``reader``: ``load_settings``, ``read_config`` and ``parse_settings``: TOML (and the
  environment) in, checks across tables.
- ``starter``: the file ``roomkey init`` writes, with fresh random secrets.

This package re-exports what applications and the rest of roomkey use.
"""

from roomkey.config.checks import deployment_problems
from roomkey.config.presets import (
    DEV_APP_ID,
    DEV_APP_KEY,
    DEV_APP_SECRET,
    DEV_ENCRYPTION_MASTER_KEY,
    DEV_JWT_SECRET,
    development_settings,
)
from roomkey.config.reader import load_settings, parse_settings
from roomkey.config.settings import (
    SESSION_KINDS,
    WEBHOOK_EVENT_TYPES,
    AppIdentitySettings,
    AppSettings,
    HookSettings,
    IdentitySettings,
    JwtSettings,
    Limits,
    MetricsSettings,
    PerformanceSettings,
    RateLimits,
    RedisSettings,
    RuleSettings,
    ServerSettings,
    SessionSettings,
    Settings,
    WebhookSettings,
    WebhookTarget,
)
from roomkey.config.table import ConfigError

__all__ = [
    "DEV_APP_ID",
    "DEV_APP_KEY",
    "DEV_APP_SECRET",
    "DEV_ENCRYPTION_MASTER_KEY",
    "DEV_JWT_SECRET",
    "SESSION_KINDS",
    "WEBHOOK_EVENT_TYPES",
    "AppIdentitySettings",
    "AppSettings",
    "ConfigError",
    "HookSettings",
    "IdentitySettings",
    "JwtSettings",
    "Limits",
    "MetricsSettings",
    "PerformanceSettings",
    "RateLimits",
    "RedisSettings",
    "RuleSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "WebhookSettings",
    "WebhookTarget",
    "deployment_problems",
    "development_settings",
    "load_settings",
    "parse_settings",
]
