"""Socket ids are ASCII digits only, wherever one is parsed: Python's ``\\d`` also matches the
digits of every other script, and ``١٢٣.٤٥٦`` was signed by the authorize endpoint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roomkey.core.channels import validate_socket_id
from roomkey.core.errors import BadRequest
from roomkey.core.signing import sign_channel, sign_user
from tests.support.apps import APP_ID, make_token
from tests.support.authorize import post_auth
from tests.support.rest import signed_post
from tests.support.servers import Server

NOT_ASCII = [
    "١٢٣.٤٥٦",  # Arabic-Indic digits
    "\uff11\uff12\uff13.\uff14\uff15\uff16",  # fullwidth digits
    "123.٤٥٦",  # mixed
    "۱۲۳.۴۵۶",  # Extended Arabic-Indic (Persian)
    "१२३.४५६",  # Devanagari
]


@pytest.mark.parametrize("socket_id", NOT_ASCII)
def test_validate_socket_id_takes_ascii_digits_only(socket_id: str) -> None:
    with pytest.raises(BadRequest, match="socket_id"):
        validate_socket_id(socket_id)


@pytest.mark.parametrize("socket_id", NOT_ASCII)
def test_nothing_is_signed_for_a_non_ascii_socket_id(socket_id: str) -> None:
    with pytest.raises(BadRequest, match="socket_id"):
        sign_channel("key", "secret", socket_id, "private-a")
    with pytest.raises(BadRequest, match="socket_id"):
        sign_user("key", "secret", socket_id, '{"id":"1"}')


async def test_the_authorize_endpoints_refuse_them(server: Server) -> None:
    for path, fields in (
        ("/pusher/auth", {"channel_name": "private-user-7"}),
        ("/pusher/user-auth", {}),
    ):
        for socket_id in NOT_ASCII:
            status, body, _ = await post_auth(
                server, {"socket_id": socket_id, **fields}, token=make_token("7"), path=path
            )
            assert status == 400, (path, socket_id, body)
            assert body["error"]["code"] == 4300
            assert "socket_id" in body["error"]["message"]
            assert "auth" not in body
    # An ASCII one is signed.
    status, body, _ = await post_auth(
        server, {"socket_id": "123.456", "channel_name": "private-user-7"}, token=make_token("7")
    )
    assert status == 200 and body["auth"]


async def test_the_rest_trigger_refuses_them_as_socket_id(server: Server) -> None:
    path = f"/apps/{APP_ID}/events"
    event = {"name": "e", "channels": ["news"], "data": "{}"}
    for socket_id in NOT_ASCII:
        answer = await signed_post(server, path, {**event, "socket_id": socket_id})
        assert answer.status == 400, (socket_id, answer.body)
        assert "socket_id" in str(answer.body)
    assert (await signed_post(server, path, {**event, "socket_id": "123.456"})).status == 200


def test_roomkey_sign_refuses_them() -> None:
    roomkey = str(Path(sys.executable).parent / "roomkey")
    common = ["sign", "--key", "k", "--secret", "0123456789abcdef", "--channel", "private-a"]
    out = subprocess.run(
        [roomkey, *common, "--socket-id", NOT_ASCII[0]], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 2
    assert "socket_id must look like 1234.5678" in out.stderr
    assert out.stdout == ""
    out = subprocess.run(
        [roomkey, *common, "--socket-id", "123.456"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and out.stdout.strip().startswith("k:")
