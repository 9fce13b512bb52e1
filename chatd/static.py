"""The widget's files (``/widget/*``): compressed, cached, and versioned.

The build (widget/build.mjs) writes each bundle with ``.br`` and ``.gz``
copies beside it, and bakes the panel's content hash into the loader, which
asks for ``panel.js?v=<hash>``. So:

- the loader (``loader.js``, embedded by every host page at a fixed URL) is
  cached for five minutes and revalidated by its ETag;
- a request naming the current version is cached for a year, immutable: a new
  build changes the hash, so browsers and CDNs never serve a stale panel;
- the body is the brotli or gzip copy when the client accepts it
  (``Vary: Accept-Encoding``).

Files are read once per change of their modification time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["IMMUTABLE", "REVALIDATE", "WidgetFiles", "content_version", "root_file_endpoint"]

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=300, must-revalidate"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.(js|css|map)$")
_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "map": "application/json"}
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def content_version(data: bytes) -> str:
    """The version a build gives a file: the first 10 hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class _File:
    mtime: float
    version: str
    variants: dict[str, bytes]  # content-coding ("" for none) -> body


class WidgetFiles:
    """ASGI app serving the files of one directory under the rules above."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, _File] = {}

    def _load(self, name: str) -> _File | None:
        path = self.directory / name
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._cache.get(name)
        if cached is not None and cached.mtime == mtime:
            return cached
        raw = path.read_bytes()
        variants = {"": raw}
        for coding, suffix in _ENCODINGS:
            compressed = path.with_name(name + suffix)
            if compressed.is_file() and compressed.stat().st_mtime >= mtime:
                variants[coding] = compressed.read_bytes()
        loaded = _File(mtime, content_version(raw), variants)
        self._cache[name] = loaded
        return loaded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        name = scope["path"].rpartition("/")[2]
        if request.method not in ("GET", "HEAD"):
            response = Response("method not allowed", 405, headers={"allow": "GET, HEAD"})
        elif not _NAME.match(name) or (file := self._load(name)) is None:
            response = Response("not found", 404)
        else:
            response = self._answer(request, name, file)
        await response(scope, receive, send)

    def _answer(self, request: Request, name: str, file: _File) -> Response:
        accepted = {part.split(";")[0].strip() for part in request.headers.get("accept-encoding", "").split(",")}
        coding = next((c for c, _ in _ENCODINGS if c in accepted and c in file.variants), "")
        body = file.variants[coding]
        etag = f'"{file.version}{"-" + coding if coding else ""}"'
        headers = {"etag": etag, "vary": "Accept-Encoding",
                   "cache-control": IMMUTABLE if request.query_params.get("v") == file.version else REVALIDATE,
                   "access-control-allow-origin": "*", "x-content-type-options": "nosniff"}
        if coding:
            headers["content-encoding"] = coding
        if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        media_type = _TYPES[name.rpartition(".")[2]]
        if request.method == "HEAD":
            headers["content-length"] = str(len(body))
            return Response(b"", headers=headers, media_type=media_type)
        return Response(body, headers=headers, media_type=media_type)


_ROOT_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.txt$")


def root_file_endpoint(directory: Path) -> object:
    """``GET /<name>.txt`` from ``directory`` (no subdirectories, no other
    kinds of file): what a mini-program platform asks for to verify that a
    web-view domain is the business's, e.g. ``/MP_verify_AbC123.txt``."""

    async def serve(request: Request) -> Response:
        name = request.path_params["name"]
        path = directory / name
        if not _ROOT_FILE.match(name) or not path.is_file():
            return Response("not found", 404)
        return Response(path.read_bytes(), media_type="text/plain; charset=utf-8",
                        headers={"cache-control": "no-cache"})

    return serve
