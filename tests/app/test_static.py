"""The widget's files: compressed copies for clients that accept them, a
year of caching for the versioned panel URL the loader asks for, short and
revalidated caching for the loader; and root verification files."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from chatd.app import create_app
from chatd.records import MEMORY_URL
from chatd.settings import load_settings
from chatd.static import IMMUTABLE, REVALIDATE, content_version

DIST = Path(__file__).resolve().parent.parent.parent / "widget" / "dist"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A built dist/ (the widget's own build output) in a directory of the test's."""
    assert (DIST / "panel.js.br").is_file(), "build the widget first (npm run build in widget/)"
    static = tmp_path / "static"
    (static / "dist").mkdir(parents=True)
    for path in DIST.iterdir():
        shutil.copy2(path, static / "dist" / path.name)  # keeps the times: copies are served when not older
    (static / "pages").mkdir()
    return static


def _client(static: Path, **settings: object) -> httpx.AsyncClient:
    app = create_app(load_settings({}, database_url=MEMORY_URL, static_dir=str(static), **settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://chatd")


async def test_the_loader_asks_for_the_panel_by_its_content_version(files: Path) -> None:
    panel = (files / "dist" / "panel.js").read_bytes()
    loader = (files / "dist" / "loader.js").read_text()
    assert "panel.js?v=" in loader and f'"{content_version(panel)}"' in loader  # the build's define
    async with _client(files) as http:
        versioned = await http.get(f"/widget/panel.js?v={content_version(panel)}", headers={"accept-encoding": "br"})
        assert versioned.headers["cache-control"] == IMMUTABLE
        stale = await http.get("/widget/panel.js?v=0123456789")  # an old loader's URL: not kept for long
        assert stale.headers["cache-control"] == REVALIDATE
        assert (await http.get("/widget/loader.js")).headers["cache-control"] == REVALIDATE


async def test_bodies_are_brotli_or_gzip_as_accepted_and_the_same_file_either_way(files: Path) -> None:
    raw = (files / "dist" / "panel.js").read_bytes()
    async with _client(files) as http:
        br = await http.get("/widget/panel.js", headers={"accept-encoding": "gzip, br"})
        # httpx decodes the body (brotli through the brotli package); the length is what went over the wire
        assert br.headers["content-encoding"] == "br" and "Accept-Encoding" in br.headers["vary"]
        assert br.content == raw and int(br.headers["content-length"]) < len(raw) / 3
        gz = await http.get("/widget/panel.js", headers={"accept-encoding": "gzip"})
        assert gz.headers["content-encoding"] == "gzip" and gz.content == raw
        assert int(br.headers["content-length"]) < int(gz.headers["content-length"]) < len(raw)
        plain = await http.get("/widget/panel.js", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == raw
        assert plain.headers["content-type"].startswith("text/javascript")
        # Revalidation: the ETag names the version and the coding.
        again = await http.get("/widget/panel.js",
                               headers={"accept-encoding": "br", "if-none-match": br.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert br.headers["etag"] != plain.headers["etag"]


async def test_a_rebuilt_file_is_served_at_once_with_its_new_version(files: Path) -> None:
    async with _client(files) as http:
        first = await http.get("/widget/client.js", headers={"accept-encoding": "identity"})
        path = files / "dist" / "client.js"
        path.write_bytes(b"export const rebuilt = 1;\n")
        (files / "dist" / "client.js.br").unlink()  # a copy older than its file is not served
        later = await http.get("/widget/client.js", headers={"accept-encoding": "br"})
    assert later.content == b"export const rebuilt = 1;\n" and "content-encoding" not in later.headers
    assert later.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize("path", ["/widget/../settings.py", "/widget/panel.js.br", "/widget/.hidden.js",
                                  "/widget/missing.js", "/widget/PANEL.JS"])
async def test_only_plain_bundle_names_are_served(files: Path, path: str) -> None:
    async with _client(files) as http:
        assert (await http.get(path)).status_code == 404


async def test_verification_files_are_served_at_the_root(files: Path, tmp_path: Path) -> None:
    proofs = tmp_path / "proofs"
    proofs.mkdir()
    (proofs / "MP_verify_AbC123.txt").write_text("AbC123")
    (proofs / "secret.env").write_text("nope")
    async with _client(files, root_files_dir=str(proofs)) as http:
        answer = await http.get("/MP_verify_AbC123.txt")
        assert answer.status_code == 200 and answer.text == "AbC123"
        assert answer.headers["content-type"].startswith("text/plain")
        for missing in ("/secret.env", "/MP_verify_other.txt", "/..%2Fproofs%2FMP_verify_AbC123.txt"):
            assert (await http.get(missing)).status_code == 404, missing
        # Other routes keep their meaning.
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/console/", follow_redirects=False)).status_code == 200
    async with _client(files) as http:
        assert (await http.get("/MP_verify_AbC123.txt")).status_code == 404  # not configured: nothing at the root

