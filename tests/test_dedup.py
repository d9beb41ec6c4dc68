"""Item identity and story keys: the same item or story is recognised however a feed dresses it up."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor import dedup
from monitor.dedup import item_id, link_key, story_keys, title_key
from monitor.records import Entry


def entry(guid: str | None = None, link: str | None = None, title: str = "", summary: str = "") -> Entry:
    return Entry(guid=guid, link=link, title=title, summary=summary)


@pytest.mark.parametrize(
    "variant",
    [
        "https://www.Example.ORG/news/story-1/",
        "http://example.org/news/story-1",
        "https://example.org:443/news/story-1#comments",
        "https://example.org/news/story-1?utm_source=rss&utm_medium=feed",
        "https://example.org/news/story-1?fbclid=abc&gclid=def",
        "  https://EXAMPLE.org./news/story-1  ",
    ],
)
def test_link_key_ignores_presentation_details(variant: str) -> None:
    assert link_key(variant) == link_key("https://example.org/news/story-1") == "example.org/news/story-1"


def test_link_key_keeps_what_names_a_different_page() -> None:
    assert link_key("https://example.org/story?id=1") != link_key("https://example.org/story?id=2")
    assert link_key("https://example.org/a?b=2&a=1") == link_key("https://example.org/a?a=1&b=2")
    assert link_key("https://example.org:8443/a") == "example.org:8443/a"
    assert link_key("https://example.org/Story") != link_key("https://example.org/story")
    assert link_key("https://other.org/news/story-1") != link_key("https://example.org/news/story-1")


@pytest.mark.parametrize(
    "link", [None, "", "javascript:alert(1)", "mailto:a@b.org", "/relative", "http://[bad"]
)
def test_link_key_is_none_without_an_http_link(link: str | None) -> None:
    assert link_key(link) is None


def test_title_key_folds_case_accents_punctuation_and_spaces() -> None:
    key = title_key("Zürich café: prices up!")
    assert key == title_key("  ZURICH   Cafe — prices   up ") == title_key("zürich café prices up")
    assert key != title_key("Zürich café: prices down")
    assert len(key) == 16 and int(key, 16) >= 0


def test_item_id_prefers_guid_then_link_then_title() -> None:
    by_guid = item_id("bbc", entry(guid="g1", link="https://a.org/1", title="T"))
    assert by_guid == item_id("bbc", entry(guid="g1", link="https://a.org/changed", title="Changed"))
    by_link = item_id("bbc", entry(link="https://a.org/1?utm_source=x", title="T"))
    assert by_link == item_id("bbc", entry(link="https://www.a.org/1/", title="Edited title"))
    by_title = item_id("bbc", entry(title="Breaking: news"))
    assert by_title == item_id("bbc", entry(title="breaking news", link="javascript:x"))
    assert len({by_guid, by_link, by_title}) == 3


def test_item_id_is_scoped_to_the_feed() -> None:
    same = entry(guid="1")
    assert item_id("a", same) != item_id("b", same)
    assert item_id("a", same) == item_id("a", same)


def test_story_keys_match_one_story_across_feeds() -> None:
    from_bbc = entry(guid="bbc-1", link="https://news.org/x?utm_campaign=bbc", title="Ceasefire agreed")
    from_reuters = entry(guid="r-9", link="https://www.news.org/x", title="CEASEFIRE AGREED!")
    assert story_keys(from_bbc) == story_keys(from_reuters)


def test_untitled_items_are_not_one_story() -> None:
    assert story_keys(entry(link="https://a.org/1"))[1] != story_keys(entry(link="https://a.org/2"))[1]
    assert story_keys(entry(guid="x"))[1] != story_keys(entry(guid="y"))[1]
    assert (
        story_keys(entry(title="!!!", summary="one"))[1] != story_keys(entry(title="...", summary="two"))[1]
    )


@given(st.text(max_size=200))
def test_title_key_is_total_and_ignores_surrounding_space(title: str) -> None:
    assert title_key(f"  {title}\n") == title_key(title)
    assert len(title_key(title)) == 16


@given(st.text(max_size=200))
def test_link_key_never_raises(link: str) -> None:
    key = link_key(link)
    assert key is None or isinstance(key, str)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=120))
def test_title_folding_of_ascii_text_takes_a_shortcut_with_the_same_result(title: str) -> None:
    decomposed = unicodedata.normalize("NFKD", title.casefold())
    kept = (c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    assert dedup._fold(title) == " ".join("".join(kept).split())
