"""Identity from a bearer JWT (PyJWT).

Algorithms are pinned by config (``none`` never), ``exp`` is required, ``aud``/``iss`` are
checked when configured. The user id comes from ``user_id_claim``; ``user_info`` from the
configured claims that are present.
"""

from __future__ import annotations

from typing import Any

import jwt

from roomkey.config import JwtSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.base import Identity, scalar_user_id

MAX_TOKEN_CHARS = 8192


class JwtAuthenticator:
    def __init__(self, settings: JwtSettings) -> None:
        self._settings = settings
        self._key = settings.secret or settings.public_key
        self._algorithms = list(settings.algorithms)

    def authenticate(self, token: str) -> Identity:
        """A verified identity, or ``Unauthorized`` with reason ``invalid_token`` or
        ``expired_token``. The message never contains the token."""
        s = self._settings
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthorized("invalid token", reason="invalid_token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=s.audience or None,
                issuer=s.issuer or None,
                leeway=s.leeway_seconds,
                options={"require": ["exp"], "verify_aud": bool(s.audience)},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token has expired", reason="expired_token") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(
                f"invalid token ({type(exc).__name__})", reason="invalid_token"
            ) from None
        user_id = scalar_user_id(claims.get(s.user_id_claim))
        if user_id is None:
            raise Unauthorized(f"token has no {s.user_id_claim} claim", reason="invalid_token")
        info = {k: claims[k] for k in s.user_info_claims if k in claims}
        # PyJWT required ``exp`` and read it as ``int(exp)``; the identity ends where PyJWT
        # would refuse the token: at ``int(exp) + leeway``.
        expires_at = int(claims["exp"]) + s.leeway_seconds
        return Identity(
            user_id=user_id, user_info=info, claims=claims, source="jwt", expires_at=expires_at
        )
