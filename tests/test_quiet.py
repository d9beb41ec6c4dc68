"""The quiet steady state (issue 14), the unchanged poll: an unchanged poll of a steady feed is written
by `pipeline.quiet_polls` (one UPDATE for many feeds); what it stores is what `ingest` stores."""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import BACKENDS, empty_engine
from sqlmodel import Session

from monitor import db, pipeline, schedule
from monitor.config import load_config
from monitor.models import Event, FeedState
from monitor.records import Fetched
from monitor.runtime import Active, Runtime

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
URL = "http://127.0.0.1:9/a"
RULES = f"""\
feeds:
  - name: a
    url: {URL}
    every: 90s
rules:
  - name: story
    match: story
"""


@pytest.fixture(params=BACKENDS, scope="module")
def rt(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    folder = tmp_path_factory.mktemp("quiet")
    (folder / "rules").mkdir()
    (folder / "rules" / "watch.yaml").write_text(RULES, encoding="utf-8")
    (folder / "channels.yaml").write_text("channels:\n  console: {type: console}\n", encoding="utf-8")
    with empty_engine(request.param, folder) as engine:
        db.upgrade(engine)
        yield Runtime(engine, Active.build(load_config(folder / "rules", folder / "channels.yaml")))


STATES = st.fixed_dictionaries(
    {
        "url": st.sampled_from([URL, "http://127.0.0.1:9/old"]),
        "status": st.sampled_from(["ok", "ok", "degraded", "failing", "new"]),
        "reason": st.sampled_from([None, "HTTP 500", "moved permanently to http://x/: update its url"]),
        "failures": st.sampled_from([0, 0, 3]),
        "etag": st.sampled_from([None, '"v1"']),
        "last_modified": st.sampled_from([None, "Mon, 23 Nov 2026 10:00:00 GMT"]),
        "body_hash": st.sampled_from([None, "abc"]),
        "items": st.integers(0, 5),
        "polled": st.booleans(),
    }
)
RESULTS = st.builds(
    lambda status, etag, modified, max_age: Fetched(
        "a", URL, URL, status, None if status == 304 else b"<rss/>", None, etag, modified, None, max_age
    ),
    st.sampled_from([304, 200]),
    st.sampled_from([None, "", '"v1"', '"v2"']),
    st.sampled_from([None, "Tue, 24 Nov 2026 11:00:00 GMT"]),
    st.sampled_from([None, 30.0, 3600.0]),
)


def stored(rt: Runtime) -> tuple[dict[str, Any], int]:
    with Session(rt.engine) as session:
        state = session.get(FeedState, "a")
        assert state is not None
        events = session.exec(sa.select(sa.func.count()).select_from(Event)).one()[0]  # type: ignore[call-overload]
        return state.model_dump(), events


def reset(rt: Runtime, state: dict[str, Any]) -> None:
    with Session(rt.engine) as session:
        session.execute(sa.delete(FeedState))
        session.execute(sa.delete(Event))
        session.add(FeedState(name="a", next_poll_at=T0, lease_owner="me", lease_until=T0, **state))
        session.commit()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=STATES, result=RESULTS)
def test_an_unchanged_poll_stores_what_ingest_stores(
    rt: Runtime, state: dict[str, Any], result: Fetched, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "utcnow", lambda: T0)
    monkeypatch.setattr(schedule.random, "uniform", lambda lo, hi: (lo + hi) / 3)
    feed = rt.config.feeds["a"]
    reset(rt, state)
    pipeline.ingest(rt, feed, result, None)  # the plain path: nothing to parse (a 304 or the same bytes)
    plain = stored(rt)
    reset(rt, state)
    work: queue.Queue[Any] = queue.Queue()
    work.put((feed, result, None))
    work.put(None)
    pipeline._ingest_all(rt, work, frozenset({"a"}))  # told it is steady: the UPDATE must check it still is
    assert stored(rt) == plain


def test_quiet_polls_are_written_together_and_wake_the_poller_for_the_first(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset(rt, {"url": URL, "status": "ok", "etag": '"v1"'})
    with Session(rt.engine) as session:
        session.add(FeedState(name="b", url=URL, status="ok", next_poll_at=T0, lease_owner="me"))
        session.commit()
    feeds = [rt.config.feeds["a"], dataclasses.replace(rt.config.feeds["a"], name="b")]
    polls = [pipeline.Quiet(f, Fetched(f.name, URL, URL, 304, None, etag='"v1"'), T0) for f in feeds]
    hints: list[datetime | None] = []
    monkeypatch.setattr(rt.wakeup, "soon", hints.append)
    executed: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        executed.append(statement)

    sa.event.listen(rt.engine, "before_cursor_execute", seen)
    try:
        pipeline.quiet_polls(rt, polls)
    finally:
        sa.event.remove(rt.engine, "before_cursor_execute", seen)
    with Session(rt.engine) as session:
        states = {s.name: s for s in session.exec(sa.select(FeedState)).scalars()}  # type: ignore[call-overload]
    assert all(s.last_poll_at == T0 and s.lease_owner is None for s in states.values())
    assert sum(1 for sql in executed if sql.startswith("UPDATE")) == 1
    assert len(hints) == 1 and hints[0] is not None
    assert hints[0] == min(s.next_poll_at for s in states.values() if s.next_poll_at is not None)
    assert hints[0] > T0 + timedelta(seconds=60)
