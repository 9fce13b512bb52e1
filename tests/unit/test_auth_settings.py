"""Tokens, passwords and settings: pure tests with an injected clock."""

from __future__ import annotations

import threading

import pytest

import chatd.auth
from chatd.auth import (
    AuthError,
    TokenSigner,
    check_password,
    hash_password,
    hash_password_off_loop,
    sign_identity,
    verify_identity,
    verify_password,
)
from chatd.settings import load_settings


def test_passwords_are_hashed_with_argon2() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong") and not verify_password("", "x") and not verify_password("junk", "x")


@pytest.mark.asyncio
async def test_argon2_runs_off_the_event_loop_and_unknown_agents_cost_the_same(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.current_thread()
    checked: list[tuple[str, threading.Thread]] = []
    real_verify = chatd.auth.verify_password

    def recording_verify(password_hash: str, password: str) -> bool:
        checked.append((password_hash, threading.current_thread()))
        return real_verify(password_hash, password)

    monkeypatch.setattr(chatd.auth, "verify_password", recording_verify)
    hashed = await hash_password_off_loop("correct horse")
    assert await check_password(hashed, "correct horse")
    assert not await check_password(hashed, "wrong")
    assert not await check_password(None, "correct horse")  # no such agent: checked against a stand-in
    assert len(checked) == 3 and all(thread is not loop_thread for _, thread in checked)
    assert checked[2][0].startswith("$argon2") and checked[2][0] != hashed


def test_tokens_verify_expire_and_refuse_tampering() -> None:
    signer = TokenSigner("s1")
    token, claims = signer.issue("agent", "ana", ttl=60, now=1000, role="admin")
    assert signer.verify(token, "agent", now=1059)["role"] == "admin"
    with pytest.raises(AuthError) as expired:
        signer.verify(token, "agent", now=1060)
    assert expired.value.code == "token_expired"
    for bad in (token[:-2] + "AA", token.replace("v1.", "v2."), "x", TokenSigner("s2").issue("agent", "a", 60, 0)[0]):
        with pytest.raises(AuthError) as caught:
            signer.verify(bad, "agent", now=1000)
        assert caught.value.code == "unauthorized"
    with pytest.raises(AuthError):
        signer.verify(token, "visitor", now=1000)
    assert claims["jti"] != signer.issue("agent", "ana", ttl=60, now=1000)[1]["jti"]


def test_identity_tokens_are_bound_to_the_site_secret() -> None:
    token = sign_identity("site-secret", "42", now=100, ttl=60, site="shop", name="Li")
    assert verify_identity(token, "shop", "site-secret", now=120)["user_id"] == "42"
    with pytest.raises(AuthError):
        verify_identity(token, "other", "site-secret", now=120)
    with pytest.raises(AuthError):
        verify_identity(token, "shop", "another-secret", now=120)
    with pytest.raises(AuthError) as caught:
        verify_identity(token, "shop", "site-secret", now=161)
    assert caught.value.code == "token_expired"


def test_settings_read_once_from_env_and_flags() -> None:
    env = {"CHATD_PORT": "9000", "CHATD_ENGINE": "redis", "CHATD_DEMO": "false", "CHATD_RATE_LIMIT_PER_SECOND": "2.5"}
    settings = load_settings(env, port=9100, host=None)
    assert (settings.port, settings.engine, settings.demo) == (9100, "redis", False)
    assert settings.rate_limit_per_second == 2.5
    assert settings.secret == "" and "secret" not in settings.public() and "redis_url" not in settings.public()
    with pytest.raises(ValueError, match="CHATD_PORT"):
        load_settings({"CHATD_PORT": "eighty"})
    with pytest.raises(ValueError, match="CHATD_ENGINE"):
        load_settings({}, engine="sqlite")
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]
