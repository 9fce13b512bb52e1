"""The one error type: every code defined once, with a sentence, a close code and a status."""

from __future__ import annotations

import re

import pytest

from chatd.errors import ERRORS, ChatdError
from tests.support import REPO


def test_every_code_has_a_sentence_a_sane_close_code_and_a_status() -> None:
    for code, (sentence, close, status) in ERRORS.items():
        assert re.fullmatch(r"[a-z_]+", code) and sentence.endswith(".")
        assert close in (0, 1011, 1013, 4001, 4003), code
        assert 400 <= status < 600, code


def test_an_unknown_code_is_a_bug_not_an_answer() -> None:
    with pytest.raises(ValueError):
        ChatdError("no_such_code")
    refused = ChatdError("unavailable", ref="r1", conversation_id="c1")
    assert (refused.close_code, refused.status, refused.ref, str(refused)) == (
        1011, 503, "r1", ERRORS["unavailable"].sentence)


def test_the_protocol_document_lists_exactly_the_codes_clients_can_get() -> None:
    text = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))
    http_only = {"not_found", "conflict", "payload_too_large", "too_many_attempts"}
    assert documented == set(ERRORS) - http_only
