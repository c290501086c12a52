"""The identity settings that cannot work together, caught at start (and by
``roomkey check-config``) instead of at the first request: a session kind without its key,
secrets or Redis, a key given to a kind that never reads it, an identity source in
``[identity] order`` that is not configured. Each problem is one line with its path; no
key or secret value is ever repeated."""

from __future__ import annotations

import importlib.util

from roomkey.config.settings import REDIS_SESSION_KINDS, Settings


def identity_problems(settings: Settings) -> list[str]:
    """What keeps ``settings``' identity sources from working, one line each."""
    return _session_problems(settings) + _order_problems(settings)


def _session_problems(settings: Settings) -> list[str]:
    s = settings.session
    kind = s.resolved_kind
    problems: list[str] = []
    if s.kind and s.store == "redis" and kind != "aiohttp_redis":
        problems.append(
            f'session.store: "redis" is the older name of kind "aiohttp_redis"; '
            f'kind "{kind}" does not use it (remove store)'
        )
    if kind in REDIS_SESSION_KINDS and not (s.redis_url or settings.redis.enabled):
        key = "session.kind" if s.kind else "session.store"
        problems.append(
            f'{key}: "{s.kind or s.store}" needs session.redis_url or a [redis] topology '
            "(url, sentinels or cluster_nodes)"
        )
    sealed = kind in ("aiohttp_encrypted", "aiohttp_nacl")
    if sealed and s.secret_key is None:
        problems.append(
            f'session.secret_key: kind "{kind}" needs the key the app gives aiohttp-session '
            "(secret_key or secret_key_file: 32 bytes, base64)"
        )
    if not sealed and s.secret_key is not None:
        problems.append(
            f'session.secret_key: only kinds "aiohttp_encrypted" and "aiohttp_nacl" use a key, '
            f'not "{kind}"'
        )
    if kind == "aiohttp_nacl" and importlib.util.find_spec("nacl") is None:
        problems.append('session.kind: "aiohttp_nacl" needs PyNaCl: pip install "roomkey[nacl]"')
    if kind == "express":
        if not s.secrets:
            problems.append(
                'session.secrets: kind "express" needs express-session\'s secret '
                "(secrets or secrets_file; the current one first)"
            )
        if s.max_age_seconds:
            problems.append(
                'session.max_age_seconds: kind "express" keeps each session\'s own expiry '
                "(its cookie.expires); leave it 0"
            )
    elif s.secrets:
        problems.append(f'session.secrets: only kind "express" uses secrets, not "{kind}"')
    return problems


def _order_problems(settings: Settings) -> list[str]:
    configured = {
        "bearer": (settings.jwt.enabled, "needs [jwt] secret or public_key"),
        "session": (settings.session.enabled, "needs session.enabled = true"),
        "app": (settings.identity.app.enabled, "needs identity.app.url"),
    }
    return [
        f'identity.order: "{name}" {configured[name][1]}'
        for name in dict.fromkeys(settings.identity.order)
        if name in configured and not configured[name][0]
    ]
