"""`monitor try` and `monitor alerts test`, run as a user runs them, against real loopback servers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from receivers import HttpReceiver

STORIES = rss(
    It("UK troops meet in Kyiv", "Military leaders met on Thursday.", link="https://news.example/1"),
    It("Cricket scores", "A quiet day at the Oval.", link="https://news.example/2"),
)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def configure(project: Project, feed_url: str, hook: HttpReceiver) -> None:
    project.write(
        "rules/watch.yaml",
        f"""
        feeds:
          - name: news
            url: {feed_url}
        rules:
          - name: troops
            match: troops
            feeds: [news]
            alert: [hook]
        """,
    )
    project.write("alerts/channels.yaml", "channels:\n  hook: {type: webhook, url: '${HOOK}'}\n")
    project.env["HOOK"] = hook.url


def test_try_a_feed_url_shows_the_hits_and_counts(project: Project, server: FeedServer) -> None:
    server.feed("/news.xml", STORIES)
    result = project.cli("try", "troops AND military", "--feed", server.url("/news.xml"))
    assert result.returncode == 0, result.stderr
    assert "UK troops meet in Kyiv" in result.stdout and "Cricket" not in result.stdout
    assert "https://news.example/1" in result.stdout
    assert "1 hit(s) in 2 item(s)" in result.stdout


def test_try_a_configured_feed_by_name_as_json(
    project: Project, server: FeedServer, hook: HttpReceiver
) -> None:
    server.feed("/news.xml", STORIES)
    configure(project, server.url("/news.xml"), hook)
    result = project.cli("try", "cricket OR oval", "--feed", "news", "--json")
    assert result.returncode == 0, result.stderr
    (hit,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (hit["title"], hit["feed"], hit["link"]) == ("Cricket scores", "news", "https://news.example/2")
    assert "Oval" in hit["snippet"] and set(hit["matched_terms"]) == {"Cricket", "Oval"}
    assert len(server.requests("/news.xml")) == 1


def test_try_a_bad_query_points_at_the_column(project: Project) -> None:
    result = project.cli("try", "troops AND")
    assert result.returncode != 0
    assert "query:1:11:" in result.stderr and "troops AND\n" in result.stderr and "^" in result.stderr


def test_try_a_failing_feed_names_its_url(project: Project, server: FeedServer) -> None:
    server.status("/gone.xml", 404)
    result = project.cli("try", "troops", "--feed", server.url("/gone.xml"))
    assert result.returncode != 0
    assert server.url("/gone.xml") in result.stderr and "404" in result.stderr


def test_alerts_test_posts_one_alert_to_the_channel(
    project: Project, server: FeedServer, hook: HttpReceiver
) -> None:
    configure(project, server.url("/news.xml"), hook)
    result = project.cli("alerts", "test", "hook")
    assert result.returncode == 0, result.stderr
    assert "test alert sent to hook" in result.stderr
    (request,) = hook.wait_for(1)
    assert request.method == "POST" and request.json()["type"]


def test_alerts_test_reports_a_refusal_without_the_secret_url(
    project: Project, server: FeedServer, hook: HttpReceiver
) -> None:
    configure(project, server.url("/news.xml"), hook)
    project.env["HOOK"] = hook.url + "/SECRETTOKEN"
    hook.script(403)
    result = project.cli("alerts", "test", "hook")
    assert result.returncode != 0
    assert "test alert to hook failed" in result.stderr and "403" in result.stderr
    assert "SECRETTOKEN" not in result.stderr + result.stdout


def test_alerts_test_an_unknown_channel_lists_the_known_ones(
    project: Project, server: FeedServer, hook: HttpReceiver
) -> None:
    configure(project, server.url("/news.xml"), hook)
    result = project.cli("alerts", "test", "pager")
    assert result.returncode != 0
    assert "no channel 'pager'" in result.stderr and "channels: hook" in result.stderr
