"""The most any design of the ingest can reach here: analysis and matching alone, on every core at once.

    python bench/matchfloor.py                    # 10,000 and 100,000 rules
    python bench/matchfloor.py --sizes 10000 --passes 5

Issue 14 asks for 10,000 items/s at 10,000 rules and 4,000 at 100,000 "with analysis included" on
this 2-core machine. This measures the work no design can leave out, with nothing else around it:
each of the 2,125 BBC articles (bench/match.py's items and rules) is analysed (`analyze_texts`), its
Document built, and `Matcher.match` run on it; the hits are counted and dropped. No parsing, no
item or match rows, no database, no hand-over between processes (which the daemon needs). It runs

- on one thread: CPU per item of each step, and items/s;
- in as many processes as there are cores (`os.cpu_count()`), forked after the rules are indexed so
  each has the index at no cost, each taking every Nth article, repeatedly (`--passes`): items/s of
  the whole machine, which bounds what the daemon can reach from above.

Prints each figure beside the target. The learned index is used (the one a running daemon has).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from match import DEFAULT_DATA, generate_rules, load_articles, out, vocabulary

from monitor.match import document_fields
from monitor.query import Document, Matcher, StemCounts, compile_query
from monitor.query.analyze import Analysis, analyze_texts, item_texts

TARGETS = {10_000: 10_000, 100_000: 4_000}


def cpu_per_item(fn, n: int, repeats: int = 3) -> float:  # type: ignore[no-untyped-def]
    """Fewest CPU seconds of `fn()` over `repeats` runs, per item."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / n


def run_share(matcher: Matcher, texts: list[tuple[str, ...]], share: int, of: int, passes: int) -> int:
    """Analyse, build and match every `of`th text from `share`, `passes` times; the hits found."""
    hits = 0
    mine = texts[share::of]
    for _ in range(passes):
        for text in mine:
            hits += len(matcher.match(Document(text, analyze_texts(text))))
    return hits


def all_cores(matcher: Matcher, texts: list[tuple[str, ...]], passes: int) -> tuple[float, int]:
    """(items/s, processes): one forked process per core, each on its share of the items."""
    procs = os.cpu_count() or 1
    start = time.perf_counter()
    children = []
    for share in range(procs):
        pid = os.fork()
        if pid == 0:  # the child: its share, then out at once (no exit handlers, no flush of the parent's)
            try:
                run_share(matcher, texts, share, procs, passes)
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"a worker failed: {status}")
    return len(texts) * passes / (time.perf_counter() - start), procs


def measure(
    matcher: Matcher,
    texts: list[tuple[str, ...]],
    analyses: list[Analysis],
    build: float,
    passes: int,
) -> tuple[float, float, float, int]:
    """(match CPU per item, all three's CPU per item on one thread, items/s on every core, processes)."""
    n = len(texts)
    gc.collect()
    gc.freeze()  # the index is long-lived, as in the daemon; and the forks share it unchanged
    pairs = list(zip(texts, analyses, strict=True))
    match = cpu_per_item(lambda: [matcher.match(Document(t, a)) for t, a in pairs], n) - build
    one = cpu_per_item(lambda: [matcher.match(Document(t, analyze_texts(t))) for t in texts], n)
    rate, procs = all_cores(matcher, texts, passes)
    gc.unfreeze()
    return match, one, rate, procs


def main(argv: list[str] | None = None) -> None:
    """Load the articles, then measure each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000])
    parser.add_argument("--passes", type=int, default=3, help="passes over the items per process")
    args = parser.parse_args(argv)
    gc.set_threshold(50_000, 50, 100)
    items = load_articles(args.data)
    mid, words = vocabulary(items)
    texts = [item_texts(document_fields({**item, "feed": "bbc"})) for item in items]
    analyses = [analyze_texts(text) for text in texts]  # warms the stem caches, as in a running daemon
    counts = StemCounts()
    for text, analysis in zip(texts, analyses, strict=True):
        counts.add(Document(text, analysis))
    n = len(texts)
    analyse = cpu_per_item(lambda: [analyze_texts(t) for t in texts], n)
    build = cpu_per_item(lambda: [Document(t, a) for t, a in zip(texts, analyses, strict=True)], n)
    out(f"{args.data.name}: {n} articles; load {os.getloadavg()[0]:.1f}")
    out(f"analysis {analyse * 1e6:.0f} us/item, Document {build * 1e6:.0f} us/item (CPU, one thread)")
    out("| rules | match alone (CPU) | one thread: all three | every core at once | target |")
    out("|---|---|---|---|---|")
    for size in args.sizes:
        rules = generate_rules(size, mid, words)
        matcher = Matcher({f"r{i}": compile_query(t) for i, t in enumerate(rules)}, counts.frequencies())
        docs = [Document(t, a) for t, a in zip(texts, analyses, strict=True)]
        for doc in docs:
            matcher.match(doc)  # warm
        match, one, rate, procs = measure(matcher, texts, analyses, build, args.passes)
        target = TARGETS.get(size)
        verdict = "" if target is None else f"{target:,} ({'within' if rate >= target else 'beyond'} reach)"
        out(
            f"| {size:,} | {match * 1e6:.0f} us/item | {1 / one:,.0f} items/s ({one * 1e6:.0f} us) "
            f"| {rate:,.0f} items/s ({procs} processes) | {verdict} |"
        )


if __name__ == "__main__":
    main()
