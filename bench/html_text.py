"""Feed HTML to plain text: `monitor.htmltext.html_to_text` (lexbor, HTML5) against a naive regex strip.

    python bench/html_text.py

Each BBC article becomes an HTML summary (a paragraph per sentence, a link, an image with a quoted
alt text, an iframe); both sides turn all of them into text, best of 5 runs. The naive baseline is
`re.sub("<[^>]*>", " ", s)` plus `html.unescape`: what a script would write (and what leaks markup on
`alt="a > b"` and loses nothing to raw-text elements only by luck).
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from match import DEFAULT_DATA, load_articles

from monitor.htmltext import html_to_text

_TAG = re.compile(r"<[^>]*>")


def as_html(text: str) -> str:
    """An article as feed HTML."""
    sentences = [html.escape(s) for s in text.split(". ") if s]
    body = "".join(f"<p>{s}.</p>" for s in sentences)
    return (
        f'<div class="story"><img alt="growth &gt; 5%" src="x.png"/>{body}'
        f'<iframe src="https://example.org/v"/><p>Read <a href="/more">more</a>.</p></div>'
    )


def naive(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def best_of(fn, docs: list[str], runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        for doc in docs:
            fn(doc)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    docs = [as_html(a["title"] + ". " + a["content"]) for a in load_articles(args.data)]
    size = sum(map(len, docs))
    ours, base = best_of(html_to_text, docs), best_of(naive, docs)
    print(f"{len(docs):,} articles, {size / len(docs) / 1024:.1f} KB of HTML each on average")
    print(f"html_to_text (lexbor): {size / ours / 1e6:6.1f} MB/s, {ours / len(docs) * 1e6:7.0f} us/article")
    print(f"naive regex strip:     {size / base / 1e6:6.1f} MB/s, {base / len(docs) * 1e6:7.0f} us/article")
    short = ["<p>word</p>"] * 10_000
    print(f"a short field ('<p>word</p>'): {best_of(html_to_text, short) / len(short) * 1e6:.0f} us")


if __name__ == "__main__":
    main()
