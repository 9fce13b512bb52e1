"""Which typing signals a connection passes on (injected clock)."""

from chatd.session import TYPING_REPEAT_SECONDS, Session
from chatd.settings import Settings
from chatd.store import open_engine


async def _ignore(_: object) -> None:
    return None


def _session() -> Session:
    store = open_engine(Settings(engine="memory")).store
    return Session(1, "visitor", "json", _ignore, store, queue_limit=10, rate=10, burst=10, now=0.0, close=_ignore)


def test_typing_is_passed_on_when_it_changes_or_to_keep_it_alive() -> None:
    session = _session()
    sent = [session.typing_changed("c1", active, at) for active, at in
            [(True, 0.0), (True, 0.5), (True, 1.9), (False, 2.0), (False, 2.1), (True, 2.2),
             (True, 2.2 + TYPING_REPEAT_SECONDS)]]
    assert sent == [True, False, False, True, False, True, True]
    assert session.typing_changed("c2", True, 0.5)  # each conversation on its own
