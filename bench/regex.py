"""Benchmark whole-word regular expressions on RE2 (what rules use) against Python's backtracking `re`.

    python bench/regex.py
    python bench/regex.py path/to/articles.csv    # another copy of the BBC articles

For each pattern, the time to fullmatch one word of n `a`s, as n grows: RE2 stays flat, Python's
engine doubles with each extra letter on the hostile patterns (so it is only run up to 24 letters:
at 64, the length the matcher tests, it would take longer than the universe has existed). A benign
rule (`/nato|otan/`) shows what RE2 costs on ordinary words.

Then eight ordinary regex rules on 300 BBC articles: the compiled queries (RE2, one pass over an
item's distinct words) against Python's `re` tried on each word, as the matcher did before.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.query import analyze_item, compile_query
from monitor.query.nodes import MAX_PATTERN_WORD
from monitor.query.wordregex import compile_word_pattern

ARTICLES = Path(__file__).resolve().parents[2] / "shared/data/bbc-news/articles.csv"
RULES = ["nato|otan", "colou?r", "ukr.*", "[0-9]+m", ".*ism", "ceas.*fire", "(a|b)+c", "x.*z"]

PATTERNS = ["(a|aa)+b", "(?:a|a)*c", "((a+))+b", "nato|otan"]
LENGTHS = [16, 20, 24, 64]
PYTHON_MAX = 24  # Python's engine is not run on longer hostile words
REPEATS = 3


def best(run: object, word: str) -> float:
    """The best of REPEATS timings of `run(word)`, in seconds."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run(word)  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"{'pattern':<12} {'word':>5} {'RE2':>10} {'Python re':>12}")
    for pattern in PATTERNS:
        fast = compile_word_pattern(pattern, 1)
        slow = re.compile(pattern)
        for n in LENGTHS:
            word = "a" * n
            re2_time = best(fast.fullmatch, word)
            hostile = pattern != "nato|otan"
            py = "(skipped)" if hostile and n > PYTHON_MAX else f"{best(slow.fullmatch, word) * 1e6:10.1f} µs"
            print(f"{pattern:<12} {n:>5} {re2_time * 1e6:8.1f} µs {py:>12}")
    rules_on_articles()


def rules_on_articles() -> None:
    """Eight ordinary regex rules per item: the matcher's RE2 pass against `re` word by word."""
    csv.field_size_limit(10**7)
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ARTICLES
    with path.open(newline="", encoding="utf-8") as f:
        texts = [row["text"] for _, row in zip(range(300), csv.DictReader(f), strict=False)]
    docs = [analyze_item({"title": t[:100], "content": t}) for t in texts]
    for doc in docs:
        doc.folded_lines()  # analysis is not what is measured
    queries = [compile_query(f"/{r}/") for r in RULES]
    baseline = [re.compile(r, re.IGNORECASE) for r in RULES]
    start = time.perf_counter()
    ours = [q.matches(d) for d in docs for q in queries]
    ours_time = time.perf_counter() - start
    start = time.perf_counter()
    words = [[w for w in d.folded_index() if len(w) <= MAX_PATTERN_WORD] for d in docs]
    naive = [any(p.fullmatch(w) for w in ws) for ws in words for p in baseline]
    naive_time = time.perf_counter() - start
    assert ours == naive, "both must find the same items"
    per = 1e3 / len(docs)
    print(f"\n{len(RULES)} regex rules on {len(docs)} articles, per item:")
    print(f"  RE2, all words at once  {ours_time * per:6.2f} ms")
    print(f"  re, word by word        {naive_time * per:6.2f} ms")


if __name__ == "__main__":
    main()
