"""The plain loop of `bench/once.py`, as a script of its own: what a user would write and run.

    python bench/plainloop.py FEED.xml QUERIES.json    # prints the number of (rule, item) hits

feedparser on the feed's bytes, then for every item the set of its stemmed words, and every rule
checked against it (all of a rule's words present; an OR group: any). It imports only what it
uses (feedparser, the stemmer), so timed as a fresh process it pays its own start, as
`monitor run --once` does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import feedparser
import Stemmer

WORD = re.compile(r"\w+")


def plain_loop(body: bytes, queries: list[str]) -> int:
    """Parse with feedparser, then check every rule against every item's stemmed words."""
    stem = Stemmer.Stemmer("english").stemWord
    rules = []
    for q in queries:
        groups = [[stem(w) for w in WORD.findall(part.lower())] for part in re.split(r"\s(?![^()]*\))", q)]
        rules.append(groups)  # each group: OR of words (a phrase counts as all its words, loosely)
    hits = 0
    for entry in feedparser.parse(body).entries:
        words = {stem(w) for w in WORD.findall(f"{entry.title} {entry.get('summary', '')}".lower())}
        for groups in rules:
            if all(any(w in words for w in g if w != "or") for g in groups):
                hits += 1
    return hits


if __name__ == "__main__":
    print(
        plain_loop(Path(sys.argv[1]).read_bytes(), json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))
    )
