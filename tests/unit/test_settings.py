"""Settings: refused values name their variable, secrets come from files,
typos are reported, a deployment needs a real secret, and the documented
table is the code's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatd.cli import main
from chatd.settings import MIN_SECRET_LENGTH, describe, load_settings, serving_problems, unknown_variables

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(("env", "named"), [
    ({"CHATD_DEMO": "maybe"}, "CHATD_DEMO"),
    ({"CHATD_PORT": "0"}, "CHATD_PORT"),
    ({"CHATD_WORKERS": "-2"}, "CHATD_WORKERS"),
    ({"CHATD_ENGINE": "sqlite"}, "CHATD_ENGINE"),
    ({"CHATD_LOG_FORMAT": "xml"}, "CHATD_LOG_FORMAT"),
    ({"CHATD_LOG_LEVEL": "loud"}, "CHATD_LOG_LEVEL"),
    ({"CHATD_DRAIN_DELAY_SECONDS": "-1"}, "CHATD_DRAIN_DELAY_SECONDS"),
    ({"CHATD_HEADER_TIMEOUT_SECONDS": "soon"}, "CHATD_HEADER_TIMEOUT_SECONDS"),
    ({"CHATD_SECRET_FILE": "/nonexistent/chatd-secret"}, "CHATD_SECRET_FILE"),
    ({"CHATD_REDIS_URL": "redis+cluster://s1:7000/3"}, "CHATD_REDIS_URL"),
    ({"CHATD_REDIS_URL": "memcached://s1:11211"}, "CHATD_REDIS_URL"),
    ({"CHATD_REDIS_URL": "redis+sentinel://s1/mymaster"}, "CHATD_REDIS_URL"),
    ({"CHATD_REDIS_URL": "redis+sentinel://s1:26379"}, "CHATD_REDIS_URL"),
])
def test_a_bad_value_is_refused_naming_its_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        load_settings(env)


def test_values_are_read_from_files_and_flags_win(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s" * 40 + "\n")
    url = tmp_path / "redis-url"
    url.write_text("redis://:pw@10.0.0.5:6379/2")
    settings = load_settings({"CHATD_SECRET_FILE": str(secret), "CHATD_REDIS_URL_FILE": str(url),
                              "CHATD_LOG_LEVEL": "DEBUG", "CHATD_ACCESS_LOG": "on"}, log_format="json")
    assert settings.secret == "s" * 40 and settings.redis_url.endswith("10.0.0.5:6379/2")
    assert (settings.log_level, settings.log_format, settings.access_log) == ("debug", "json", True)
    assert "pw" not in repr(settings) and "s" * 40 not in repr(settings)


def test_unknown_variables_are_reported() -> None:
    env = {"CHATD_PORT": "1", "CHATD_SECERT": "x", "CHATD_SECRET_FILE": "f", "CHATD_TEST_REDIS_URL": "r", "HOME": "/"}
    assert unknown_variables(env) == ["CHATD_SECERT"]


def test_a_deployment_needs_a_real_shared_secret() -> None:
    assert serving_problems(load_settings({})) != []
    assert "at least" in serving_problems(load_settings({}, secret="short"))[0]
    assert serving_problems(load_settings({}, secret="x" * MIN_SECRET_LENGTH)) == []
    assert serving_problems(load_settings({}, demo=True)) == []  # trying chatd: a made-up secret is fine
    assert serving_problems(load_settings({}, demo=True, workers=2)) != []  # memory engine, two processes


def test_serve_refuses_to_start_without_a_secret(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("CHATD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CHATD_PORTT", "1")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "CHATD_PORTT is not a chatd setting" in err and "CHATD_SECRET" in err


def test_help_lists_every_variable_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    shown = capsys.readouterr().out
    for name, default, _help in describe():
        assert name in shown
        if default:
            assert f"[default: {default}]" in shown, name


def test_the_configuration_page_documents_exactly_the_settings() -> None:
    page = (REPO / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `(CHATD_[A-Z_]+)` \|", page, re.MULTILINE))
    assert documented == {name for name, _default, _help in describe()}


def test_log_records_carry_the_context_ids_and_mask_credentials() -> None:
    import io
    import json
    import logging

    from chatd.logs import JsonFormatter, _Context, connection_id, conversation_id

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_Context())
    logger = logging.getLogger("chatd.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        connection_id.set("agent:7")
        conversation_id.set("c_1")
        logger.warning("hello with token=v1.abc.def and Authorization: Bearer v1.x.y for %s", "ana")
    finally:
        logger.removeHandler(handler)
    record = json.loads(stream.getvalue())
    assert (record["connection_id"], record["conversation_id"], record["level"]) == ("agent:7", "c_1", "warning")
    assert "v1.abc.def" not in record["message"] and "v1.x.y" not in record["message"]
    assert record["message"].endswith("for ana") and "token=***" in record["message"]
