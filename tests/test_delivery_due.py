"""The delivery tick's light check (`db.any_due_delivery`) says "due" exactly when the claim finds something.

The tick asks it every second and claims (`db.claim_due_deliveries`) only when it says so; over
hypothesis-drawn deliveries (status, channel, due time, lease) and a moment to ask at, on SQLite and
PostgreSQL, the check and the claim agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import BACKENDS, empty_engine
from sqlmodel import Session
from test_db import T0, delivery_row, insert

from monitor import db
from monitor.models import Delivery

minutes = st.integers(-10, 10).map(lambda m: T0 + timedelta(minutes=m))
rows = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from(["pending", "pending", "sent", "failed"]),
            "channel": st.sampled_from(["hook", "mail", "chat"]),
            "next_attempt_at": minutes,
            "lease_until": st.none() | minutes,
            "lease_owner": st.just("other"),
        }
    ),
    max_size=6,
)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with empty_engine(request.param, tmp_path) as engine:
        db.upgrade(engine)
        yield engine


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    deliveries=rows, channels=st.lists(st.sampled_from(["hook", "mail", "chat"]), unique=True), now=minutes
)
def test_the_check_says_due_exactly_when_the_claim_finds_a_delivery(
    engine: sa.Engine, deliveries: list[dict[str, object]], channels: list[str], now: object
) -> None:
    with engine.begin() as connection:
        connection.execute(sa.delete(Delivery))
    insert(engine, Delivery, [delivery_row(n, **row) for n, row in enumerate(deliveries)])  # type: ignore[arg-type]
    due = db.any_due_delivery(engine, channels, now)  # type: ignore[arg-type]
    with Session(engine) as session:
        claimed = db.claim_due_deliveries(session, channels, "me", now, 10)  # type: ignore[arg-type]
    assert due == bool(claimed)
