"""New items x active rules, and the lookback run for new or changed rules."""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor.config import Config, RuleConfig
from monitor.entrytext import EntryAnalysis, with_feed
from monitor.matchterms import RowTerms, where_terms
from monitor.models import Item, RuleState
from monitor.query import FIELDS, Document, Hit, Matcher, StemCounts, analyze_item
from monitor.query.analyze import analyze_text, item_texts
from monitor.records import Snippet


def build_matcher(config: Config, learning: StemCounts | None = None) -> Matcher:
    """Index the rules of `config`; with `learning`, the matcher learns word frequencies into it (a
    reload passes the previous generation's, so nothing learned is lost)."""
    queries = {name: rule.query for name, rule in config.rules.items() if rule.enabled}
    return Matcher(queries, learning=learning)


def match_id(rule: str, item_id: str) -> str:
    return hashlib.sha256(f"{rule}\x1f{item_id}".encode()).hexdigest()[:24]


def document_fields(item: Mapping[str, Any]) -> dict[str, str | Sequence[str]]:
    """The searchable fields of a stored item (a row dict)."""
    return {
        "title": item.get("title") or "",
        "summary": item.get("summary") or "",
        "content": _joined(item.get("content") or "", item.get("article") or ""),
        "author": item.get("author") or "",
        "category": item.get("categories") or (),  # analyze_item joins them
        "feed": item.get("feed") or "",
        "link": item.get("link") or "",
    }


def item_document(item: Mapping[str, Any], analysis: EntryAnalysis | None = None) -> Document:
    """The analyzed item; with the `analysis` its parse worker made of its entry, only put together.

    An item with an article (its `content` is the feed's and the article's) is analyzed here.
    """
    texts = item_texts(document_fields(item))
    if analysis is None or item.get("article"):
        return Document(texts)
    return Document(texts, with_feed(analysis, analyze_text(texts[FIELDS.index("feed")])))


def _joined(content: str, article: str) -> str:
    """The feed's content and the article's text (a `fulltext` item), searched as one `content` field."""
    return f"{content}\n\n{article}" if content and article else content or article


def snippet(item: Mapping[str, Any], where: Mapping[str, Any], width: int = 240) -> Snippet:
    """The quote around a match's terms, cut when an alert is built (most matches are never sent)."""
    doc = analyze_item(document_fields(item))
    return Hit(where_terms(doc, where)).snippet(doc, width)


def match_items(
    config: Config,
    matcher: Matcher,
    items: Iterable[Mapping[str, Any]],
    now: datetime,
    analyses: Mapping[str, EntryAnalysis | None] | None = None,
) -> list[dict[str, Any]]:
    """Match rows for every (rule of `matcher`, item) hit, honouring each rule's feeds in `config`.

    `analyses`: item id -> its entry's analysis from the parse worker (see `item_document`).
    """
    rows = []
    for item in items:
        doc = item_document(item, analyses.get(item["id"]) if analyses else None)
        terms = RowTerms(doc)
        item_id, feed = item["id"], item["feed"]
        link_key, title_key = item.get("link_key"), item.get("title_key") or item_id
        for name, hit in matcher.match(doc).items():
            rule = config.rules.get(name)
            if rule is None or feed not in rule.feeds:
                continue
            words, tokens = terms.columns(hit)
            rows.append(
                {
                    "id": match_id(name, item_id),
                    "rule": name,
                    "item_id": item_id,
                    "link_key": link_key,
                    "title_key": title_key,
                    "matched_terms": words,
                    "snippet": {"tokens": tokens},
                    "created_at": now,
                }
            )
    return rows


def applied_fingerprints(session: Session) -> dict[str, str]:
    """Each rule's fingerprint when its lookback last ran (rule name -> fingerprint)."""
    stmt = sa.select(col(RuleState.name), col(RuleState.fingerprint))
    return {name: fingerprint for name, fingerprint in session.execute(stmt)}


def changed_rules(
    session: Session, config: Config, known: Mapping[str, str] | None = None
) -> list[RuleConfig]:
    """Rules that are new or changed since they were last applied (their lookback is due).

    `known`: `applied_fingerprints(session)`, when the caller has read it already.
    """
    known = applied_fingerprints(session) if known is None else known
    return [
        rule for name, rule in config.rules.items() if rule.enabled and known.get(name) != rule.fingerprint
    ]


def lookback_matches(
    config: Config, session: Session, todo: Sequence[RuleConfig], now: datetime
) -> list[dict[str, Any]]:
    """Matches of the rules in `todo` on the items of each one's lookback window (one scan for all).

    An item counts when it was first seen in the window and its publication date, if any, is in it too.
    """
    since = now - max(rule.lookback for rule in todo)
    published_ok = sa.or_(col(Item.published).is_(None), col(Item.published) >= since)
    stmt = select(Item).where(Item.first_seen >= since, published_ok)
    items = {item.id: item.model_dump() for item in session.exec(stmt)}
    if not items:
        return []
    windows = {rule.name: now - rule.lookback for rule in todo}
    matcher = Matcher({rule.name: rule.query for rule in todo})
    return [
        m
        for m in match_items(config, matcher, items.values(), now)
        if _in_window(items[m["item_id"]], windows[m["rule"]])
    ]


def _in_window(item: Mapping[str, Any], since: datetime) -> bool:
    published = item.get("published")
    return bool(item["first_seen"] >= since and (published is None or published >= since))


def mark_applied(
    session: Session, rules: Sequence[RuleConfig], now: datetime, known: Container[str] | None = None
) -> None:
    """Remember each rule's fingerprint so its lookback runs once.

    `known`: the rules that have a row already (`applied_fingerprints`); None: any of them may.
    """
    names = [rule.name for rule in rules if known is None or rule.name in known]
    for start in range(0, len(names), 500):
        session.execute(sa.delete(RuleState).where(col(RuleState.name).in_(names[start : start + 500])))
    rows = [{"name": r.name, "fingerprint": r.fingerprint, "applied_at": now} for r in rules]
    if rows:  # a Core insert: the ORM's bulk insert costs a third of a second at 20,000 rules
        session.connection().execute(sa.insert(RuleState.__table__), rows)  # type: ignore[attr-defined]
