"""Passwords and signed tokens.

Tokens are ``v1.<payload>.<signature>``: payload is base64url JSON, signature
base64url HMAC-SHA256 of ``v1.<payload>``. Three kinds share the format:

- agent tokens (``kind="agent"``): short-lived, carry a ``jti`` so they can be
  revoked before expiry (logout, admin action);
- visitor tokens (``kind="visitor"``): let an anonymous visitor resume after a
  reload; bound to one site;
- identity tokens: made by a host site's backend with the site's secret to
  vouch for a logged-in customer (``{"site", "user_id", "name", "exp"}``).

Pure apart from argon2 hashing; the clock is passed in.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatd.errors import ChatdError
from chatd.model import ApiKey

__all__ = [
    "API_KEY_PREFIX",
    "AuthError",
    "TokenSigner",
    "check_password",
    "hash_password",
    "hash_password_off_loop",
    "new_api_key",
    "sign_identity",
    "verify_api_key",
    "verify_identity",
    "verify_password",
]

_hasher = PasswordHasher()


class AuthError(ChatdError):
    """A refused token: ``code`` is ``unauthorized``, ``token_expired`` or ``token_revoked``."""


API_KEY_PREFIX = "chatd_"


def new_api_key(name: str, scopes: list[str], created_by: str, now: float) -> tuple[str, ApiKey]:
    """A new key and the token that uses it (``chatd_<key id>.<secret>``), shown once."""
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = ApiKey(key_id=key_id, name=name, scopes=list(scopes), created_at=now, created_by=created_by,
                 secret_hash=hashlib.sha256(secret.encode()).hexdigest())
    return f"{API_KEY_PREFIX}{key_id}.{secret}", key


async def verify_api_key(store: Any, token: str) -> ApiKey:
    """The working key a token names; raises :class:`AuthError`. The secret is
    random, so one SHA-256 (compared in constant time) is hashing enough."""
    key_id, _, secret = token[len(API_KEY_PREFIX):].partition(".")
    key = await store.get_api_key(key_id) if key_id.isalnum() and len(key_id) <= 32 else None
    given = hashlib.sha256(secret.encode()).hexdigest()
    if key is None or not hmac.compare_digest(given, key.secret_hash):
        raise AuthError("unauthorized", "unknown API key")
    if key.revoked_at:
        raise AuthError("token_revoked", "this API key has been revoked")
    return key


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_off_loop(password: str) -> str:
    """:func:`hash_password` in a worker thread: argon2 takes about 0.2 s of
    CPU (with the GIL released), which would stall every connection."""
    return await asyncio.to_thread(hash_password, password)


@functools.cache
def _stand_in_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def check_password(password_hash: str | None, password: str) -> bool:
    """:func:`verify_password` in a worker thread. ``None`` (no such agent)
    is checked against a stand-in hash and fails, taking as long as a wrong
    password, so answer times do not tell which agent ids exist."""
    if password_hash is None:
        await asyncio.to_thread(lambda: verify_password(_stand_in_hash(), password))
        return False
    return await asyncio.to_thread(verify_password, password_hash, password)


def verify_password(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, claims: dict[str, Any]) -> str:
    head = "v1." + _b64(orjson.dumps(claims))
    return head + "." + _b64(hmac.new(key, head.encode(), hashlib.sha256).digest())


def _open(key: bytes, token: str, now: float) -> dict[str, Any]:
    if not isinstance(token, str) or token.count(".") != 2 or not token.startswith("v1."):
        raise AuthError("unauthorized", "malformed token")
    head, _, signature = token.rpartition(".")
    expected = hmac.new(key, head.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        claims = orjson.loads(_unb64(head[3:]))
    except ValueError:
        raise AuthError("unauthorized", "malformed token") from None
    if not hmac.compare_digest(expected, given):
        raise AuthError("unauthorized", "bad signature")
    if not isinstance(claims, dict):
        raise AuthError("unauthorized", "malformed token")
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)):
        raise AuthError("unauthorized", "token without expiry")
    if exp <= now:
        raise AuthError("token_expired", "token expired")
    return claims


class TokenSigner:
    """Issues and verifies the server's own tokens with one secret."""

    __slots__ = ("_key",)

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"chatd-token:" + secret.encode()).digest()

    def issue(self, kind: str, subject: str, ttl: float, now: float, **claims: Any) -> tuple[str, dict[str, Any]]:
        """A new token and its claims (``kind``, ``sub``, ``exp``, ``jti``, extras)."""
        body = {"kind": kind, "sub": subject, "exp": int(now + ttl), "jti": secrets.token_hex(8), **claims}
        return _sign(self._key, body), body

    def verify(self, token: str, kind: str, now: float) -> dict[str, Any]:
        """The claims of a valid, unexpired token of ``kind``; raises :class:`AuthError`.
        Revocation is the caller's check (it needs the store)."""
        claims = _open(self._key, token, now)
        if claims.get("kind") != kind or not isinstance(claims.get("sub"), str):
            raise AuthError("unauthorized", "wrong kind of token")
        return claims


def sign_identity(site_secret: str, user_id: str, now: float, ttl: float = 600,
                  site: str = "", **claims: Any) -> str:
    """What a host site's backend does to vouch for a logged-in customer."""
    return _sign(site_secret.encode(), {"site": site, "user_id": user_id, "exp": int(now + ttl), **claims})


def verify_identity(token: str, site_key: str, site_secret: str, now: float) -> dict[str, Any]:
    """Claims of a host-signed identity token for ``site_key``; raises :class:`AuthError`."""
    if not site_secret:
        raise AuthError("unauthorized", "this site has no identity secret")
    claims = _open(site_secret.encode(), token, now)
    user_id = claims.get("user_id")
    if claims.get("site") not in ("", site_key) or not isinstance(user_id, str) or not 0 < len(user_id) <= 64:
        raise AuthError("unauthorized", "identity for another site or without user id")
    return claims
