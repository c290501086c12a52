"""The login helpers belong to roomkey's own session store: with a session kind the
application's own login owns (a cookie storage, express-session), they refuse clearly."""

from __future__ import annotations

import os

import pytest
from aiohttp import web
from pytest_aiohttp.plugin import AiohttpClient

import roomkey
from roomkey import SessionSettings
from roomkey.testing import test_settings


async def test_login_with_an_application_owned_session_kind_is_refused(
    aiohttp_client: AiohttpClient,
) -> None:
    settings = test_settings(
        session=SessionSettings(kind="aiohttp_encrypted", secret_key=os.urandom(32))
    )
    app = web.Application()
    handle = roomkey.setup(app, settings)
    await aiohttp_client(app)
    with pytest.raises(roomkey.BadRequest, match='kind "aiohttp_encrypted"'):
        await handle.login(web.Response(), "42")
