"""`fulltext: true` feeds against a loopback news site: first-sentence feeds, article pages inside site
boilerplate, broken pages; the real pipeline, article fetcher and parse workers on a SQLite file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, Project
from feeds import It, rss
from feedserver import FeedServer
from newssite import (
    BOILERPLATE_SENTENCES,
    Counting,
    article_page,
    serve_article,
    summary_feed,
)
from pg import fresh_database
from sqlmodel import Session, select
from waiting import wait_until

from monitor import db, fulltext, pipeline
from monitor.articlefetch import ArticleFetcher
from monitor.config import FeedConfig, load_config
from monitor.extract import extract_article
from monitor.models import Event, FeedState, Item, Match
from monitor.runtime import Active, Runtime

SEED_PAGE = (REPO / "examples" / "articles" / "uk-coalition-of-the-willing.html").read_bytes()
SEED_TITLE = "UK PM says ‘coalition of the willing’ is working on robust security plans amid ceasefire talks"
SEED_FIRST = "British Prime Minister Keir Starmer announced on Saturday that European nations are preparing."
BANK = [
    "The decision to keep interest rates on hold at 4.75% was passed 8-1 by the Bank of England.",
    "Minutes of the meeting showed one member voted for a rise, citing strong growth in house prices.",
    "Most economists now expect rates to stay where they are until the summer, the minutes suggest.",
]
FILM = [
    "A small British film about a seaside town has won the top prize at a festival in Berlin.",
    "Its director said the cast had worked for almost nothing over a long wet summer of filming.",
    "The film opens in cinemas across the country next month, with a wider release planned in spring.",
]
RULES = """\
feeds:
  - {{name: news, url: "{feed}", fulltext: true, backfill: true, tags: [news]}}
{extra}
aliases:
  UK: [UK, Britain, British, "United Kingdom"]
rules:
  - {{name: meeting, match: Thursday UK military meeting}}
  - {{name: briefing, match: '"Thursday briefing" OR cookies OR "most read" OR copyright'}}
  - {{name: troops, match: troops}}
"""


class Site:
    """A project whose rules watch a loopback news site, and the pipeline run in-process."""

    def __init__(self, project: Project, server: FeedServer, extra: str = "", url: str | None = None) -> None:
        self.project, self.server = project, server
        project.write("rules/watch.yaml", RULES.format(feed=server.url("/rss"), extra=extra))
        project.write("alerts/channels.yaml", "channels: {}\n")
        self.engine = db.make_engine(url or project.env["MONITOR_DB"])
        self.rt = self.restart()

    def restart(self) -> Runtime:
        """What `monitor run` does at start: load the rules, upgrade, drop this file's leases."""
        config = load_config(self.project.root / "rules", self.project.root / "alerts" / "channels.yaml")
        db.upgrade(self.engine)
        if db.is_sqlite(self.engine):
            with Session(self.engine) as session:
                db.release_leases(session)
        pipeline.sync_feeds(self.engine, config)
        self.rt = Runtime(self.engine, Active.build(config))
        return self.rt

    def poll(self) -> None:
        pipeline.poll_due(self.rt, every_feed=True)

    def read_articles(self) -> None:
        ArticleFetcher(self.rt).run_until_idle()

    def matches(self, rule: str | None = None) -> list[str]:
        """Titles of the items each match (of `rule`) is on."""
        with Session(self.engine) as session:
            stmt = select(Item.title).join(Match, Match.item_id == Item.id)  # type: ignore[arg-type]
            if rule:
                stmt = stmt.where(Match.rule == rule)
            return sorted(session.exec(stmt))

    def item(self, title: str) -> Item:
        with Session(self.engine) as session:
            found = session.exec(select(Item).where(Item.title == title)).first()
            assert found is not None, title
            return found

    def events(self, kind: str) -> list[Event]:
        with Session(self.engine) as session:
            return list(session.exec(select(Event).where(Event.kind == kind)))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def news_site(server: FeedServer, **counted: Counting) -> None:
    """The feed (first sentences only) and the pages: the seed story and two others, all in boilerplate."""
    stories = [
        (SEED_TITLE, "/world/coalition", [SEED_FIRST]),
        ("Bank voted 8-1 for no rate change", "/business/rates", BANK),
        ("Seaside film wins in Berlin", "/culture/film", FILM),
    ]
    server.feed("/rss", summary_feed(server, stories))
    serve_article(server, "/world/coalition", SEED_PAGE, counting=counted.get("c"))
    serve_article(server, "/business/rates", article_page(stories[1][0], BANK), counting=counted.get("c"))
    serve_article(server, "/culture/film", article_page(stories[2][0], FILM), counting=counted.get("c"))


def hang_up_on_close(server: FeedServer) -> Callable[[Any], None]:
    """A page that never answers, and closes the connection when the server closes."""

    def handle(h: Any) -> None:
        server.stopping.wait()
        h.close_connection = True

    return handle


def test_the_sample_rule_catches_a_story_whose_only_matching_sentence_is_deep_in_the_article(
    project: Project, server: FeedServer
) -> None:
    news_site(server)
    site = Site(project, server)
    site.poll()
    assert site.matches() == []  # matched only once the article is in
    assert site.item(SEED_TITLE).article_status == "pending"

    site.read_articles()

    assert site.matches("meeting") == [SEED_TITLE]
    assert site.matches("briefing") == []  # the site's own words ("Thursday briefing", cookies) are not text
    seed = site.item(SEED_TITLE)
    assert seed.article_status == "ok" and "Our militaries will meet this Thursday in the UK" in seed.article
    assert not any(sentence in seed.article for sentence in BOILERPLATE_SENTENCES)
    with Session(site.engine) as session:
        match = session.exec(select(Match).where(Match.rule == "meeting")).one()
    assert {"militaries", "Thursday"} <= set(match.matched_terms)
    from monitor.match import snippet

    assert (
        "Our «militaries»" not in snippet(seed.model_dump(), match.snippet).text
    )  # plain quote, spans apart
    assert "Our militaries will meet this Thursday" in snippet(seed.model_dump(), match.snippet).text


def test_content_queries_and_lookback_see_the_article(project: Project, server: FeedServer) -> None:
    news_site(server)
    site = Site(project, server)
    site.poll()
    site.read_articles()
    project.write(
        "rules/more.yaml", "rules:\n  - {name: rates, match: 'content:economists AND summer', lookback: 1h}\n"
    )
    site.restart()
    pipeline.lookback(site.rt)  # a new rule runs over the recent items, their articles included
    assert site.matches("rates") == ["Bank voted 8-1 for no rate change"]


def test_broken_pages_fail_alone_are_matched_on_their_feed_text_and_counted(
    project: Project, server: FeedServer
) -> None:
    broken = {"/gone": "404", "/hangs": "never answers", "/huge": "15 MB", "/paper.pdf": "a PDF"}
    items = [It(f"Troops story {what}", text="Troops were seen near the border.", link=server.url(path))
             for path, what in broken.items()]  # fmt: skip
    items.append(It("Troops story that works", text="Troops arrived.", link=server.url("/ok")))
    server.feed("/rss", rss(*items))
    server.status("/gone", 404)
    server.route("/hangs", hang_up_on_close(server))
    server.huge("/huge", 15 * 2**20, declare_length=False)
    server.status(
        "/paper.pdf", 200, body=b"%PDF-1.7\n" + b"0" * 5000, headers={"Content-Type": "application/pdf"}
    )
    serve_article(server, "/ok", article_page("Troops story that works", FILM))
    site = Site(project, server)
    fetcher = ArticleFetcher(site.rt)
    fetcher.start()
    try:
        site.poll()
        done = {"Troops story that works", "Troops story 404", "Troops story 15 MB", "Troops story a PDF"}
        wait_until(lambda: set(site.matches("troops")) == done, timeout=30, message="the pages that answer")
        assert site.item("Troops story never answers").article_status == "pending"  # held up nothing else
        server.close()  # the hanging page ends (one that never answers is cut off at 30 s, as a feed is)
        wait_until(lambda: len(site.matches("troops")) == 5, timeout=30, message="the hanging page")
    finally:
        fetcher.stop()
    reasons = sorted(e.message for e in site.events("article_failed"))
    assert len(reasons) == 4, reasons
    assert any("HTTP 404" in r for r in reasons) and any(
        "not an HTML page (application/pdf)" in r for r in reasons
    )
    assert any("over 10 MB" in r for r in reasons)
    with Session(site.engine) as session:
        state = session.get(FeedState, "news")
        assert state is not None and state.article_failures == 4
    result = project.cli("feeds", "--json")
    assert '"article_failures": 4' in result.stdout


def test_each_page_is_fetched_once_also_across_a_restart(project: Project, server: FeedServer) -> None:
    news_site(server)
    site = Site(project, server)
    site.poll()  # stored, waiting for their articles ... and the process dies here
    site.restart()
    site.poll()  # the same items again: not new, nothing planned
    site.read_articles()
    site.restart()
    site.poll()  # unchanged
    site.read_articles()
    stories = [
        ("Troops story added later", "/world/later", FILM),
        (SEED_TITLE, "/world/coalition", [SEED_FIRST]),
        ("Bank voted 8-1 for no rate change", "/business/rates", BANK),
    ]
    server.feed("/rss", summary_feed(server, stories))  # changed: one new item, two re-polled ones
    serve_article(server, "/world/later", article_page(stories[0][0], FILM))
    site.poll()
    site.read_articles()
    for path in ("/world/coalition", "/business/rates", "/culture/film", "/world/later"):
        assert len(server.requests(path)) == 1, path
    assert site.matches("meeting") == [SEED_TITLE]
    seed = site.item(SEED_TITLE)
    before = site.matches()
    assert pipeline.finish_article(site.rt, seed.id, "again") is False  # done is done: no second match
    assert site.matches() == before


def test_an_item_whose_article_was_claimed_by_a_process_that_died_is_read_after_the_restart(
    project: Project, server: FeedServer
) -> None:
    news_site(server)
    site = Site(project, server)
    site.poll()
    from monitor.models import utcnow

    claimed = fulltext.claim_pending(site.engine, "dead-process", utcnow(), 10)
    assert len(claimed) == 3  # leased to a process that is then killed
    site.restart()  # a single SQLite instance takes its leases back at start
    site.read_articles()
    assert site.matches("meeting") == [SEED_TITLE]
    assert len(server.requests("/world/coalition")) == 1


def test_no_more_than_four_requests_at_once_to_one_host(project: Project, server: FeedServer) -> None:
    counting = Counting()
    items = []
    for i in range(16):
        items.append(It(f"Story {i}", text="First sentence.", link=server.url(f"/a/{i}")))
        serve_article(server, f"/a/{i}", article_page(f"Story {i}", FILM), delay=0.2, counting=counting)
    server.feed("/rss", rss(*items))
    site = Site(project, server)
    site.poll()
    site.read_articles()
    assert all(len(server.requests(f"/a/{i}")) == 1 for i in range(16))
    assert 2 <= counting.peak <= 4
    assert all(site.item(f"Story {i}").article_status == "ok" for i in range(16))


def test_retry_after_pauses_the_host_then_the_page_is_read(project: Project, server: FeedServer) -> None:
    asked: list[float] = []

    def busy_then_ok(h: object) -> None:
        asked.append(time.monotonic())
        if len(asked) == 1:
            h.reply(429, b"slow down", {"Retry-After": "1"})  # type: ignore[attr-defined]
        else:
            h.reply(200, article_page("Busy", FILM), {"Content-Type": "text/html"})  # type: ignore[attr-defined]

    server.feed("/rss", rss(It("Busy story", text="First.", link=server.url("/busy"))))
    server.route("/busy", busy_then_ok)
    site = Site(project, server)
    site.poll()
    site.read_articles()
    assert len(asked) == 2 and asked[1] - asked[0] >= 0.9
    assert site.item("Busy story").article_status == "ok"
    assert server.requests("/busy")[0]["user-agent"].startswith("monitor")


def test_an_http_feed_never_makes_the_daemon_read_local_files(
    project: Project, server: FeedServer, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.html"
    secret.write_bytes(article_page("secret", ["The troops secret marker XYZZY is in this local file only."]))
    links = {"file link": secret.as_uri(), "local path": str(secret), "ftp link": "ftp://127.0.0.1/x.html",
             "script link": "javascript:alert(1)"}  # fmt: skip
    server.feed("/rss", rss(*(It(f"Troops {k}", text="Troops story.", link=v) for k, v in links.items())))
    site = Site(project, server)
    site.poll()
    site.read_articles()
    assert len(site.matches("troops")) == 4  # matched on their feed text
    assert all("XYZZY" not in site.item(f"Troops {k}").article for k in links)
    reasons = sorted(e.message for e in site.events("article_failed"))
    assert sum("news: not fetched:" in r for r in reasons) == 3, reasons  # file, ftp and javascript links
    # the local path resolved against the feed's URL: a page on the feed's own host, never the file
    assert len(server.requests(str(secret))) == 1


def test_only_a_local_feed_may_name_local_article_files(tmp_path: Path) -> None:
    page = str(tmp_path / "a.html")
    local = FeedConfig("l", str(tmp_path / "feed.xml"), timedelta(minutes=10), (), False, True, True)
    remote = FeedConfig("r", "https://news.example/rss", timedelta(minutes=10), (), False, True, True)
    assert fulltext.fetchable(local, page) == (page, None)
    assert fulltext.fetchable(local, "file://" + page) == ("file://" + page, None)
    assert fulltext.fetchable(remote, page)[0] is None
    assert fulltext.fetchable(remote, "file://" + page)[0] is None
    assert fulltext.fetchable(remote, "https://news.example/a")[0] == "https://news.example/a"


def test_a_story_another_feed_brought_costs_no_page_fetch(project: Project, server: FeedServer) -> None:
    news_site(server)
    server.feed(
        "/other", summary_feed(server, [("Bank voted 8-1 for no rate change", "/business/rates", BANK)])
    )
    site = Site(project, server)
    site.poll()
    site.read_articles()
    extra = f'  - {{name: other, url: "{server.url("/other")}", fulltext: true, backfill: true}}'
    site = Site(project, server, extra)  # a second feed with a story the first one brought
    site.poll()
    site.read_articles()
    assert len(server.requests("/business/rates")) == 1
    with Session(site.engine) as session:
        statuses = sorted(
            i.article_status or "" for i in session.exec(select(Item).where(Item.title.startswith("Bank")))
        )  # type: ignore[attr-defined]
    assert statuses == ["ok", "ok"]  # the second carries the first one's text


def test_monitor_try_reads_the_articles_of_a_fulltext_feed(project: Project, server: FeedServer) -> None:
    news_site(server)
    Site(project, server)
    hit = project.cli("try", "Thursday UK military meeting", "--feed", "news", "--json")
    assert hit.returncode == 0, hit.stderr
    assert SEED_TITLE in hit.stdout and hit.stdout.count("\n") == 1
    miss = project.cli("try", '"Thursday briefing"', "--feed", "news")
    assert "0 hit(s) in 3 item(s)" in miss.stdout


def test_extraction_refuses_pages_that_are_not_html() -> None:
    with pytest.raises(Exception, match="not an HTML page"):
        extract_article(b"%PDF-1.7 ...", "https://n.example/a.pdf", "application/pdf")
    with pytest.raises(Exception, match="not an HTML page"):
        extract_article(b"\x89PNG....", "/tmp/a.png", None)
    text = extract_article(article_page("A story", FILM), "https://n.example/a", "text/html")
    assert FILM[1] in text and "Most read" not in text


def test_the_sample_alerts_the_seed_once_though_two_feeds_carry_it(project: Project) -> None:
    project.copy_sample()
    result = project.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[uk-military-meeting]") == 1
    assert "Our «militaries» will «meet» this «Thursday» in the «UK»" in result.stdout
    found = project.cli("try", "Thursday UK military meeting", "--feed", "sample-headlines", "--json")
    assert SEED_TITLE in found.stdout  # the headlines feed holds one sentence: the article page says it


def test_feed_polls_do_not_wait_for_article_pages(project: Project, server: FeedServer) -> None:
    server.feed("/rss", rss(It("Troops slow page", text="Troops.", link=server.url("/hangs"))))
    server.hang("/hangs")
    other = FeedServer()
    try:
        other.feed("/rss", rss(It("Troops elsewhere", text="Troops moved.", link="https://n.example/x")))
        extra = f'  - {{name: plain, url: "{other.url("/rss")}", backfill: true}}'
        site = Site(project, server, extra)
        fetcher = ArticleFetcher(site.rt)
        fetcher.start()
        try:
            polled = threading.Thread(target=site.poll)
            polled.start()
            polled.join(timeout=20)
            assert not polled.is_alive()  # the poll returned while the page hangs
            assert site.matches("troops") == ["Troops elsewhere"]
        finally:
            fetcher.stop()
            server.close()
    finally:
        other.close()


@pytest.mark.postgres
def test_two_instances_reading_at_once_fetch_each_page_once(project: Project, server: FeedServer) -> None:
    counting = Counting()
    items = [It(f"Troops story {i}", text="First.", link=server.url(f"/p/{i}")) for i in range(12)]
    for i in range(12):
        serve_article(server, f"/p/{i}", article_page(f"Story {i}", FILM), delay=0.1, counting=counting)
    server.feed("/rss", rss(*items))
    with fresh_database() as url:
        site = Site(project, server, url=url)
        site.poll()
        other = Runtime(site.engine, site.rt.active)  # a second instance: another owner, the same database
        readers = [threading.Thread(target=ArticleFetcher(rt).run_until_idle) for rt in (site.rt, other)]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join(timeout=60)
        assert all(len(server.requests(f"/p/{i}")) == 1 for i in range(12))
        assert len(site.matches("troops")) == 12
        site.engine.dispose()
