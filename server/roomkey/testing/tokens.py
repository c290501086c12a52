"""JWTs that roomkey's ``[jwt]`` settings accept, for tests."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt

from roomkey.config import JwtSettings, Settings

__all__ = ["TokenFactory"]


class TokenFactory:
    """Signs tokens for the given ``[jwt]`` settings: the user id under
    ``jwt.user_id_claim``, ``aud`` and ``iss`` when configured, ``exp`` ``expires_in``
    seconds from now, and any other claims (``name`` becomes the user's ``user_info`` with
    the default ``jwt.user_info_claims``).

    HS256/384/512 sign with ``jwt.secret``; for a public key (RS*, ES*, PS*, EdDSA) pass the
    matching ``private_key`` (PEM) and the first configured algorithm is used.
    """

    def __init__(self, settings: JwtSettings | Settings, *, private_key: str | None = None) -> None:
        jwt_settings = settings.jwt if isinstance(settings, Settings) else settings
        if not jwt_settings.enabled:
            raise ValueError("[jwt] is off: set jwt.secret or jwt.public_key")
        if jwt_settings.public_key and private_key is None:
            raise ValueError("[jwt] verifies with a public key: pass private_key=")
        self.settings = jwt_settings
        self._key = private_key if private_key is not None else jwt_settings.secret
        self._algorithm = jwt_settings.algorithms[0]

    def make(self, user_id: str, *, expires_in: float = 300, **claims: Any) -> str:
        """A token for ``user_id``; ``expires_in`` may be negative (an expired token)."""
        s = self.settings
        payload: dict[str, Any] = {s.user_id_claim: user_id, "exp": int(time.time() + expires_in)}
        if s.audience:
            payload["aud"] = s.audience
        if s.issuer:
            payload["iss"] = s.issuer
        payload.update(claims)
        return pyjwt.encode(payload, self._key, algorithm=self._algorithm)

    __call__ = make
