"""The stem cache in the data folder (`monitor.query.stemcache`): it changes no analysis, only how
warm a fresh process starts; a bad file is ignored; `run --once`'s parse workers write it and the
next run's read it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.query import analyze, stemcache
from monitor.query.analyze import analyze_text
from tests.conftest import Project
from tests.feeds import It, rss
from tests.feedserver import FeedServer
from tests.test_analyze_fast import clear_caches, reference, texts


@pytest.fixture(autouse=True)
def cold() -> None:
    clear_caches()
    stemcache._loaded = 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(texts, max_size=8), st.lists(texts, max_size=8), st.data())
def test_a_process_warmed_from_the_file_analyses_as_a_cold_one(
    tmp_path: Path, seen: list[str], later: list[str], data: st.DataObject
) -> None:
    path = tmp_path / stemcache.FILENAME
    clear_caches()
    for text in seen:  # an earlier process analysed these, then wrote what it learned
        analyze_text(text)
    stemcache._loaded = 0
    assert stemcache.save(path, min_new=0)
    clear_caches()  # a fresh process
    assert stemcache.load(path)
    for text in data.draw(st.permutations([*seen, *later])):  # texts it knows, and new ones
        assert analyze_text(text) == reference(text)


def test_a_saved_file_holds_the_chunks_and_is_rewritten_only_when_enough_is_new(tmp_path: Path) -> None:
    path = tmp_path / stemcache.FILENAME
    analyze_text("Militaries meeting, U.S.-led talks (BBC) on 1,000 Zürich deals")
    assert not stemcache.save(path)  # fewer than MIN_NEW new chunks: nothing written
    assert stemcache.save(path, min_new=1)
    data = json.loads(path.read_text())
    assert data["one"]["meeting,"] == "meet" and data["one"]["(BBC)"] == "bbc"
    assert data["one"]["U.S."] == "us" and data["one"]["1,000"] == "1000"
    clear_caches()
    assert stemcache.load(path)
    assert not stemcache.save(path, min_new=1)  # nothing learned since the load
    assert analyze_text("meeting,") == (("meet",), True)


def test_a_save_keeps_what_another_worker_wrote(tmp_path: Path) -> None:
    """Each worker of a feed parsed in pieces sees its piece only: the file ends with both pieces' chunks."""
    path = tmp_path / stemcache.FILENAME
    analyze_text("first piece: militaries meeting")
    assert stemcache.save(path, min_new=1)
    clear_caches()  # the other worker, which never saw the first piece
    stemcache._loaded = 0
    analyze_text("second piece: Thursday talks")
    assert stemcache.save(path, min_new=1)
    one = json.loads(path.read_text())["one"]
    assert {"militaries": "militari", "Thursday": "thursday", "piece:": "piec"}.items() <= one.items()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps(
            {"format": stemcache.FORMAT, "key": "another version", "one": {}, "many": {}, "split": []}
        ),
        json.dumps({"format": 99, "key": "k", "one": {}, "many": {}, "split": []}),
        "KEY",  # the right header, tables of the wrong types
    ],
)
def test_a_corrupt_or_foreign_file_is_ignored_and_rebuilt(tmp_path: Path, body: str | bytes) -> None:
    path = tmp_path / stemcache.FILENAME
    if body == "KEY":
        body = json.dumps({"format": stemcache.FORMAT, "key": stemcache.code_hash(), "one": {"said,": 3}})
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    assert not stemcache.load(path)
    assert not any(analyze.chunk_caches())  # nothing taken from it
    assert analyze_text("peace talks, said") == reference("peace talks, said")
    assert stemcache.save(path, min_new=1)
    clear_caches()
    assert stemcache.load(path)  # rebuilt: readable now


def test_a_special_or_missing_file_is_ignored(tmp_path: Path) -> None:
    assert not stemcache.load(tmp_path / "missing.json")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert not stemcache.load(fifo)  # not read: a FIFO would block the fork server


def test_the_file_sits_beside_a_sqlite_database_only() -> None:
    assert stemcache.path_for("sqlite:////srv/m/data/monitor.db") == Path("/srv/m/data/stem-cache.json")
    assert stemcache.path_for("sqlite:///:memory:") is None
    assert stemcache.path_for("postgresql+psycopg://127.0.0.1/test") is None


def test_run_once_workers_write_the_cache_and_the_next_run_starts_from_it(project: Project) -> None:
    words = " ".join(f"zq{i}xword{i}," for i in range(400))  # 400 chunks no other run has seen
    with FeedServer() as server:
        server.feed("/rss", rss(It("Peace talks", words, link="https://example.org/a")))
        project.write(
            "rules/watch.yaml",
            f'feeds:\n  - {{name: f, url: "{server.url("/rss")}", backfill: true}}\n'
            "rules:\n  - {name: r, match: zq7xword7, alert: [console]}\n",
        )
        project.write("alerts/channels.yaml", "channels:\n  console: {type: console}\n")
        first = project.cli("run", "--once")
        assert first.returncode == 0, first.stderr
        assert "Peace talks" in first.stdout  # the rule alerted: the feed was parsed and analysed
        path = project.root / "data" / stemcache.FILENAME
        data = json.loads(path.read_text())
        assert data["one"]["zq123xword123,"] == "zq123xword123"  # written by a parse worker as it ended
        before = path.stat().st_ino
        server.feed(
            "/rss", rss(It("Peace talks resumed", words, link="https://example.org/b"))
        )  # parsed again
        second = project.cli("run", "--once")
        assert second.returncode == 0, second.stderr
    # the workers of the second run knew the feed's 400 chunks from the file (else they would have
    # learned them again, and rewritten it: a new file, a new inode)
    assert path.stat().st_ino == before
