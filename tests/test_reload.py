"""The reload tick in-process: good edits swap the rules and say what changed, bad ones keep the last good."""

from __future__ import annotations

import os
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, SecretStr
from runtimes import open_runtime
from sqlmodel import Session, select

from monitor import metrics, pipeline
from monitor.config.channelsfile import options_model
from monitor.config.schema import FeedSpec, RuleSpec
from monitor.daemon import apply_reload
from monitor.models import Event, FeedState, utcnow
from monitor.query import StemCounts
from monitor.reload import Reloader

RULES = """\
feeds:
  - {name: world, url: http://127.0.0.1:9/world.xml, every: 10m}
  - {name: local, url: http://127.0.0.1:9/local.xml, every: 10m}
rules:
  - name: troops
    match: troops AND Ukraine
    alert: [console]
    examples:
      match: ["Troops in Ukraine"]
  - name: ceasefire
    match: ceasefire
    alert: [console]
"""
CHANNELS = "channels:\n  console: {type: console}\n"


class Setup:
    """A rules folder, a channels file, a SQLite database and a Reloader watching them."""

    def __init__(self, root: Path) -> None:
        self.root, self.rules, self.channels = root, root / "rules", root / "alerts" / "channels.yaml"
        self.rules.mkdir()
        self.channels.parent.mkdir()
        self.write("rules/watch.yaml", RULES)
        self.channels.write_text(CHANNELS)
        self.rt = open_runtime(
            f"sqlite:///{root / 'monitor.db'}", self.rules, self.channels, learning=StemCounts()
        )
        pipeline.sync_feeds(self.rt.engine, self.rt.config)
        self.reloader = Reloader(self.rt, self.rules, self.channels)

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def events(self, kind: str) -> list[Event]:
        with Session(self.rt.engine) as session:
            return list(session.exec(select(Event).where(Event.kind == kind).order_by(Event.id)))  # type: ignore[arg-type]

    def next_polls(self) -> dict[str, object]:
        with Session(self.rt.engine) as session:
            return {s.name: s.next_poll_at for s in session.exec(select(FeedState))}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_no_edit_no_reload(setup: Setup) -> None:
    assert setup.reloader.tick() is None
    assert setup.events("reload") == [] and setup.events("reload_failed") == []


def test_a_good_edit_swaps_the_rules_and_says_what_changed(setup: Setup) -> None:
    before = setup.rt.active
    text = RULES.replace("match: ceasefire", "match: ceasefire OR truce").replace(
        "  - name: troops", "  - name: drones\n    match: drones\n  - name: troops"
    )
    setup.write("rules/watch.yaml", text)
    config = setup.reloader.tick()
    assert config is not None and setup.rt.active is not before
    assert set(setup.rt.config.rules) == {"troops", "ceasefire", "drones"}
    # what the matcher learned of word frequencies carries over to the new rules
    assert setup.rt.active.matcher.learning is before.matcher.learning is not None
    (event,) = setup.events("reload")
    assert event.data["rules_added"] == ["drones"] and event.data["rules_changed"] == ["ceasefire"]
    assert "rules: added drones; changed ceasefire" in event.message
    setup.write(
        "rules/watch.yaml",
        RULES.replace("  - name: ceasefire\n    match: ceasefire\n    alert: [console]\n", ""),
    )
    setup.reloader.tick()
    assert setup.events("reload")[-1].data["rules_removed"] == ["ceasefire", "drones"]
    assert metrics.RELOAD_OK._value.get() == 1


def test_a_content_change_is_seen_even_when_the_modification_time_is_not(setup: Setup) -> None:
    path = setup.rules / "watch.yaml"
    stamp = path.stat()
    path.write_text(RULES.replace("match: ceasefire", "match: truce"))
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # a bind mount or a fast editor
    assert setup.reloader.tick() is not None
    assert setup.rt.config.rules["ceasefire"].match == "truce"


BAD_EDITS = [
    # an unclosed bracket: reported where it opens, not where the parser gave up
    ("rules/watch.yaml", RULES.replace("match: ceasefire", "match: [ceasefire"), "rules/watch.yaml", 11),
    (
        "rules/watch.yaml",
        RULES.replace("    match: ceasefire", "    match: ceasefire\n    colour: red"),
        "rules/watch.yaml",
        12,
    ),
    (
        "rules/watch.yaml",
        RULES.replace("alert: [console]\n    examples", "alert: [pager]\n    examples"),
        "rules/watch.yaml",
        7,
    ),
    (
        "rules/watch.yaml",
        RULES.replace("match: troops AND Ukraine", "match: 'troops AND (Ukraine'"),
        "rules/watch.yaml",
        6,
    ),
    ("rules/watch.yaml", RULES.replace("Troops in Ukraine", "Tanks in Ukraine"), "rules/watch.yaml", 9),
    (
        "rules/extra.yaml",
        "rules:\n  - name: troops\n    match: again\n",
        "rules/watch.yaml",
        5,
    ),  # a duplicate name
    (
        "alerts/channels.yaml",
        "channels:\n  console: {type: console, colour: red}\n",
        "alerts/channels.yaml",
        2,
    ),
    ("alerts/templates/console.txt.j2", "{{ alert.rule }\n", "alerts/templates/console.txt.j2", 1),
    ("alerts/templates/console.txt.j2", "line one\n{{ 1 / 0 }}\n", "alerts/templates/console.txt.j2", 2),
]


@pytest.mark.parametrize(("name", "text", "where", "line"), BAD_EDITS)
def test_a_bad_edit_is_reported_at_its_line_and_the_last_good_rules_stay(
    setup: Setup, name: str, text: str, where: str, line: int
) -> None:
    good = setup.rt.active
    setup.write(name, text)
    assert setup.reloader.tick() is None
    assert setup.rt.active is good  # still matching and sending with the old configuration
    (event,) = setup.events("reload_failed")
    assert where in event.data["file"] and event.data["line"] == line and event.data["col"] >= 1
    assert f":{line}:" in event.message and "keeping the last good rules" in event.message
    assert metrics.RELOAD_OK._value.get() == 0
    assert setup.reloader.tick() is None and len(setup.events("reload_failed")) == 1  # reported once
    for added in (setup.rules / "extra.yaml", setup.root / "alerts/templates/console.txt.j2"):
        added.unlink(missing_ok=True)
    setup.write("rules/watch.yaml", RULES.replace("ceasefire", "truce"))
    setup.channels.write_text(CHANNELS)
    assert setup.reloader.tick() is not None  # the fix applies
    assert metrics.RELOAD_OK._value.get() == 1


def test_an_interval_edit_reschedules_that_feed_only(setup: Setup) -> None:
    later = utcnow() + timedelta(minutes=9)
    with Session(setup.rt.engine) as session:
        session.execute(sa.update(FeedState).values(next_poll_at=later, last_poll_at=utcnow()))
        session.commit()
    before = setup.next_polls()
    setup.write(
        "rules/watch.yaml",
        RULES.replace(
            "url: http://127.0.0.1:9/world.xml, every: 10m", "url: http://127.0.0.1:9/world.xml, every: 1h"
        ),
    )
    apply_reload(setup.rt, setup.reloader)
    after = setup.next_polls()
    assert after["local"] == before["local"]  # untouched feeds keep their next poll
    assert after["world"] > before["world"] + timedelta(minutes=40)  # about an hour after the last poll
    (event,) = setup.events("reload")
    assert event.data["feeds_changed"] == ["world"] and event.data["rules_changed"] == []


# Each field of a feed, a rule and a webhook channel's options, changed in turn: the reload names the
# entry and the field. The fields come from the models, so a new option is covered the day it is added
# (and this test asks for a second value when its type does not give one).
BASE_FEED = {"name": "world", "url": "http://127.0.0.1:9/world.xml", "every": "10m"}
BASE_RULE = {"name": "ceasefire", "match": "ceasefire", "alert": "[console]"}
BASE_OPTIONS = {"url": "'https://example.org/hook'"}
OTHER_VALUES = {  # a second valid value for the fields whose type does not suggest one
    "url": "http://127.0.0.1:9/other.xml",
    "tags": "[news]",
    "match": "ceasefire OR truce",
    "feeds": "[local]",
    "alert": "[]",
    "digest": "'0 8 * * *'",
    "examples": "{match: [Ceasefire agreed]}",
}
OTHER_OPTIONS = {"secret": "'whsec_YW5vdGhlci1zZWNyZXQtdmFsdWUh'"}  # a webhook's signing secret has a format


def _other_value(model: type[BaseModel], name: str, options: bool = False) -> str:
    """A valid value of the field, different from the base and from the default."""
    info = model.model_fields[name]
    others = OTHER_OPTIONS if options else OTHER_VALUES
    if name in others:
        return others[name]
    if info.annotation is bool:
        return "false" if info.default else "true"
    if info.annotation in (timedelta, timedelta | None):
        return "7m"
    if info.annotation in (int, float):
        return str(info.default + 1)
    if info.annotation in (SecretStr, SecretStr | None):
        return "'https://example.org/another-secret'"
    if info.annotation == dict[str, str]:
        return "{X-Test: 'yes'}"
    pytest.fail(f"no second value for {model.__name__}.{name}: add one to OTHER_VALUES")


def _flow(fields: dict[str, str]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in fields.items()) + "}"


def _files(feed: dict[str, str], rule: dict[str, str], options: dict[str, str]) -> tuple[str, str]:
    rules = f"feeds:\n  - {_flow(feed)}\n  - {{name: local, url: http://127.0.0.1:9/l.xml}}\nrules:\n  - {_flow(rule)}\n"
    return (
        rules,
        f"channels:\n  console: {{type: console}}\n  hook: {_flow({'type': 'webhook', **options})}\n",
    )


@pytest.mark.parametrize("kind", ["feeds", "rules", "channels"])
def test_every_field_edited_alone_is_named_by_the_reload(setup: Setup, kind: str) -> None:
    model: type[BaseModel] = {"feeds": FeedSpec, "rules": RuleSpec, "channels": options_model("webhook")}[
        kind
    ]
    entry = {"feeds": "world", "rules": "ceasefire", "channels": "hook"}[kind]
    base = [BASE_FEED, BASE_RULE, BASE_OPTIONS]
    index = ["feeds", "rules", "channels"].index(kind)

    def apply(texts: tuple[str, str]) -> Event:
        setup.write("rules/watch.yaml", texts[0])
        setup.channels.write_text(texts[1])
        assert setup.reloader.tick() is not None, setup.events("reload_failed")[-1].message
        return setup.events("reload")[-1]

    apply(_files(*base))
    names = [name for name in model.model_fields if name != "name"]
    assert len(names) >= 4
    for name in names:
        edited = [dict(part) for part in base]
        edited[index][name] = _other_value(model, name, options=kind == "channels")
        event = apply(_files(*edited))
        assert event.data[f"{kind}_changed"] == [entry], name
        assert name in event.data["fields_changed"][kind][entry]  # beside what it implies (match: query)
        assert f"{kind}: changed {entry} (" in event.message and name in event.message
        assert "another-secret" not in event.message and "YW5vdGhl" not in event.message  # named, not shown
        apply(_files(*base))
    if kind != "channels":
        edited = [dict(part) for part in base]
        edited[index]["name"] = "renamed"
        event = apply(_files(*edited))
        assert event.data[f"{kind}_added"] == ["renamed"] and event.data[f"{kind}_removed"] == [entry]
