"""Benchmark the indexed Matcher against evaluating every rule, on real BBC news articles.

    python bench/match.py            # 1,000, 10,000 and 100,000 rules
    python bench/match.py --quick    # 200 and 2,000 rules, fewer items
    python bench/match.py --sizes 5000 --data path/to/articles.csv
    python bench/match.py --sizes 10000,100000 --end-to-end   # also: analysis in 2 worker processes

Rules are 2 or 3 mid-frequency words (each in 0.25% to 2.5% of the articles; --band changes it), some with a phrase taken from
an article or an OR group; seeded, so every run generates the same rules. Both strategies run in
the same process on the same analyzed items; the every-rule loop runs on a sample of items and
its rate is extrapolated. Every sampled item's result is checked to be identical for both.

--end-to-end also runs the daemon's split, the ingest thread's whole work (`store.store_items`'
part: the item rows, then `match.match_items`, which makes the match rows with their terms): 2
worker processes analyse the entries (`parsepool._analyzed`, what the parse workers run after
parsing) and the main process matches them; and once more with feedparser in the loop, feed
bodies through the real parse pool (`parsepool.submit`). It prints items/s (wall clock), the CPU per item in the main
process (its every thread: one GIL, one core at most) and in the workers, and the rate a 2-core
machine allows when nothing else runs on it (the main process on one core, the rest of the work
on what is left), beside the one-thread figures of the same run (item rows, analysis, match and
match rows on one thread).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import gc
import multiprocessing
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor import parsepool
from monitor.match import match_items
from monitor.parse import parse_feed
from monitor.query import Document, Matcher, Query, StemCounts, analyze_item, compile_query
from monitor.query.analyze import tokenize
from monitor.records import Entry, Parsed
from monitor.store import item_row

REPEATS = 5  # each timing is the best of this many runs (the machine is shared)
WORKERS = 2  # worker processes of the end-to-end runs, as the daemon has on this 2-core machine
BATCH = 25  # entries per feed in the end-to-end runs
NOW = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/bbc-news/articles.csv"


def out(line: str = "") -> None:
    """Write one line of the report."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def load_articles(path: Path) -> list[dict[str, str]]:
    """The articles as item fields: the first sentence as title, the rest as content."""
    csv.field_size_limit(10**7)
    items = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = row["text"]
            title, _, content = text.partition(". ")
            items.append({"title": title[:200], "content": content, "category": row.get("category", "")})
    return items


def vocabulary(
    items: list[dict[str, str]], band: tuple[float, float] = (0.0025, 0.025)
) -> tuple[list[str], list[list[str]]]:
    """Mid-frequency words (lower case, alphabetic, as written) and each article's word list."""
    df: Counter[str] = Counter()
    words_per_item = []
    for item in items:
        words = [t.folded for t in tokenize(item["title"] + " " + item["content"])]
        words_per_item.append(words)
        df.update(set(words))
    low, high = len(items) * band[0], len(items) * band[1]
    mid = sorted(w for w, n in df.items() if low <= n <= high and w.isalpha() and len(w) > 3)
    return mid, words_per_item


def generate_rules(n: int, mid: list[str], texts: list[list[str]], seed: int = 42) -> list[str]:
    """n query texts: 2-3 words, about 10% with a phrase from an article, 10% with an OR group."""
    rng = random.Random(seed)
    mid_set = set(mid)
    rules = []
    for _ in range(n):
        words = rng.sample(mid, rng.choice((2, 3)))
        roll = rng.random()
        if roll < 0.1:
            text = rng.choice(texts)
            starts = [i for i in range(len(text) - 1) if text[i] in mid_set]
            if starts:
                i = rng.choice(starts)
                words[0] = f'"{text[i]} {text[i + 1]}"'
        elif roll < 0.2:
            words[0] = f"({words[0]} OR {rng.choice(mid)})"
        rules.append(" ".join(words))
    return rules


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(result, seconds)."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def one_pass(items: list[dict[str, str]], match_one):  # type: ignore[no-untyped-def]
    """(the names of the rules each item matched, seconds): each item is analyzed, then
    `match_one(doc)` is timed on it at once, as the daemon matches an item right after analyzing it
    (and then lets it go).
    """
    results, seconds, clock = [], 0.0, time.perf_counter
    for item in items:
        doc = analyze_item(item)
        start = clock()
        found = match_one(doc)
        seconds += clock() - start
        results.append(list(found))
    return results, seconds


def best_of(repeats: int, passes: dict[str, tuple]) -> dict[str, tuple]:  # type: ignore[type-arg]
    """name -> (results, fewest seconds) of each (items, match_one) pass; the passes take turns, so
    a slow spell of this shared machine falls on all of them rather than on one.
    """
    best: dict[str, tuple] = {}  # type: ignore[type-arg]
    for _ in range(repeats):
        for name, (items, match_one) in passes.items():
            results, seconds = one_pass(items, match_one)
            if name not in best or seconds < best[name][1]:
                best[name] = (results, seconds)
    return best


def every_rule(queries: dict[str, Query], doc: Document) -> dict[str, object]:
    """The naive baseline: evaluate every rule on the item."""
    hits = {}
    for name, query in queries.items():
        hit = query.evaluate(doc)
        if hit is not None:
            hits[name] = hit
    return hits


def run_size(
    n: int,
    mid: list[str],
    texts: list[list[str]],
    items: list[dict[str, str]],
    sample: int,
    frequencies: dict[str, float],
    e2e_data: Path | None = None,
) -> dict:
    """Measure one rule count (each timing on freshly analyzed items); return its figures."""
    rule_texts = generate_rules(n, mid, texts)
    queries, compile_s = timed(lambda: {f"r{i}": compile_query(t) for i, t in enumerate(rule_texts)})
    matcher, index_s = timed(Matcher, queries)
    matcher_df = Matcher(queries, frequencies)  # the index a daemon's matcher has once it has learned
    gc.collect()
    gc.freeze()  # rules and items are long-lived, as in the daemon: keep them out of young-GC scans
    step = max(1, len(items) // sample)
    timings = best_of(
        REPEATS,
        {
            "indexed": (items, matcher.match),
            "learned": (items, matcher_df.match),
            "every rule": (items[::step][:sample], lambda doc: every_rule(queries, doc)),
        },
    )
    (indexed, match_s), (indexed_df, match_df_s) = timings["indexed"], timings["learned"]
    naive, naive_s = timings["every rule"]
    for i, result in enumerate(naive):
        if not result == indexed[i * step] == indexed_df[i * step]:
            raise SystemExit(f"MISMATCH at {n} rules, item {i * step}: indexed and every-rule differ")
    if indexed != indexed_df:
        raise SystemExit(f"MISMATCH at {n} rules: the two indexes differ")
    split = {}
    if e2e_data is not None:
        split = {"e2e": end_to_end(matcher_df, items, e2e_data), "thread": one_thread(matcher_df, items)}
    gc.unfreeze()
    return {
        **split,
        "n": n,
        "compile_s": compile_s,
        "index_s": index_s,
        "indexed_per_item": match_s / len(items),
        "indexed_df_per_item": match_df_s / len(items),
        "naive_per_item": naive_s / len(naive),
        "sampled": len(naive),
        "hits_per_item": sum(len(r) for r in indexed) / len(items),
    }


def entries_of(items: list[dict[str, str]]) -> list[Entry]:
    """The articles as parsed feed entries."""
    return [
        Entry(guid=f"g{i}", link=None, title=it["title"], content=it["content"], categories=(it["category"],))
        for i, it in enumerate(items)
    ]


_worker_entries: list[Entry] = []


def _load_in_worker(path: str, limit: int) -> None:
    """Worker set-up: the entries, so a job is only a range (the daemon sends a feed's body)."""
    _worker_entries.extend(entries_of(load_articles(Path(path))[:limit]))


def _analyse_range(start: int, stop: int) -> Parsed:
    """In a worker: what a parse worker does after parsing a feed of these entries."""
    return parsepool._analyzed(Parsed(title="bbc", entries=tuple(_worker_entries[start:stop])))


def feed_body(items: list[dict[str, str]], start: int) -> bytes:
    """An RSS feed of the articles (their first sentence as title, the rest as description)."""
    parts = ["<rss version='2.0'><channel><title>bbc</title>"]
    for i, it in enumerate(items, start):
        parts.append(
            f"<item><guid>g{i}</guid><title>{escape(it['title'])}</title>"
            f"<description>{escape(it['content'])}</description>"
            f"<category>{escape(it['category'])}</category></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def _cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rules_config(matcher: Matcher):  # type: ignore[no-untyped-def]
    """What `match.match_items` reads of a Config: each rule's feeds (every rule watches the bench's feed)."""
    feeds = frozenset({"bbc"})
    return SimpleNamespace(rules={name: SimpleNamespace(feeds=feeds) for name in matcher.queries})


def ingest(results, matcher: Matcher) -> int:  # type: ignore[no-untyped-def]
    """The ingest thread's part, as `store.store_feeds` does it: each entry's row, then
    `match.match_items` with the workers' analyses (the match rows with their terms); the number
    of match rows."""
    config, rows = rules_config(matcher), 0
    for wait in results:
        by_id, analyses = {}, {}
        parsed = wait()
        if isinstance(parsed, Exception):
            raise SystemExit(f"a feed failed to parse: {parsed}")
        for entry in parsed.entries:
            row = item_row("bbc", entry, NOW)
            by_id[row["id"]], analyses[row["id"]] = row, entry.analysis
        rows += len(match_items(config, matcher, by_id.values(), NOW, analyses))
    return rows


def timed_split(submit_all, pids, matcher: Matcher, n_items: int) -> dict:  # type: ignore[no-untyped-def]
    """One end-to-end pass: wall clock, main-process CPU and worker CPU, per item."""
    gc.collect()
    cpu0, work0, start = time.process_time(), _cpu(pids()), time.perf_counter()
    hits = ingest(submit_all(), matcher)
    wall = time.perf_counter() - start
    main_cpu, work_cpu = time.process_time() - cpu0, _cpu(pids()) - work0
    return {"wall": wall / n_items, "main": main_cpu / n_items, "work": work_cpu / n_items, "hits": hits}


def capacity(row: dict) -> float:  # type: ignore[type-arg]
    """Items/s on an idle 2-core machine: the main process on one core, all the work on two."""
    return 1 / max(row["main"], (row["main"] + row["work"]) / WORKERS)


def end_to_end(matcher: Matcher, items: list[dict[str, str]], data: Path, repeats: int = 3) -> dict:  # type: ignore[type-arg]
    """The daemon's split, twice: workers analyse (then: parse and analyse), the main process
    matches and makes the match rows."""
    ranges = [(a, min(a + BATCH, len(items))) for a in range(0, len(items), BATCH)]
    context = multiprocessing.get_context("forkserver")
    out_ = {}
    with cf.ProcessPoolExecutor(
        WORKERS, mp_context=context, initializer=_load_in_worker, initargs=(str(data), len(items))
    ) as pool:

        def analyse_all():  # type: ignore[no-untyped-def]
            return [pool.submit(_analyse_range, a, b).result for a, b in ranges]

        def pool_pids() -> list[int]:
            return list(pool._processes)  # a benchmark may read the executor's own list

        ingest(analyse_all(), matcher)  # warm: workers started, their caches filled, as in a daemon
        out_["analyse"] = min(
            (timed_split(analyse_all, pool_pids, matcher, len(items)) for _ in range(repeats)),
            key=lambda r: r["wall"],
        )
    bodies = [feed_body(items[a:b], a) for a, b in ranges]

    def parse_all():  # type: ignore[no-untyped-def]
        return [
            parsepool.submit(body, f"https://bench.invalid/{i}", workers=WORKERS)
            for i, body in enumerate(bodies)
        ]

    try:
        ingest(parse_all(), matcher)
        out_["parse"] = min(
            (timed_split(parse_all, parsepool.worker_pids, matcher, len(items)) for _ in range(repeats)),
            key=lambda r: r["wall"],
        )
    finally:
        parsepool.shutdown()
    return out_


def one_thread(matcher: Matcher, items: list[dict[str, str]]) -> dict[str, float]:
    """Baselines on one thread, same run: parse alone, and the ingest thread's whole work when it
    analyses and matches itself (item rows, analysis, match, the match rows: a 1-core daemon)."""
    bodies = [feed_body(items[a : a + BATCH], a) for a in range(0, len(items), BATCH)]
    start = time.process_time()
    parsed = [parse_feed(body, "https://bench.invalid/") for body in bodies]
    parse_s = time.process_time() - start
    config = rules_config(matcher)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for feed in parsed:
            rows = [item_row("bbc", entry, NOW) for entry in feed.entries]
            match_items(config, matcher, rows, NOW)
        best = min(best, time.process_time() - start)
    return {"parse": parse_s / len(items), "analyse_match": best / len(items)}


def report(rows: list[dict], analyze_per_item: float, n_docs: int) -> None:
    """Print the table, what each column means, and the growth of time per item."""
    out(
        f"items: {n_docs}; analysis: {1 / analyze_per_item:,.0f} items/s ({analyze_per_item * 1e6:.0f} us/item)"
    )
    out(
        f"{'rules':>8} {'compile s':>9} {'index s':>7} {'indexed it/s':>12} {'learned':>8} {'+analysis':>9}"
        f" {'every-rule it/s':>15} {'(sample)':>8} {'speedup':>12} {'hits/item':>9}"
    )
    for r in rows:
        plain, df, naive = r["indexed_per_item"], r["indexed_df_per_item"], r["naive_per_item"]
        out(
            f"{r['n']:>8,} {r['compile_s']:>9.1f} {r['index_s']:>7.2f} {1 / plain:>12,.0f} {1 / df:>8,.0f}"
            f" {1 / (df + analyze_per_item):>9,.0f} {1 / naive:>15,.1f} {r['sampled']:>8}"
            f" {naive / plain:>5.0f}x/{naive / df:>4.0f}x {r['hits_per_item']:>9.2f}"
        )
    out(
        "indexed it/s: Matcher(rules).match, rarest word guessed by a heuristic (a daemon's first 256 items);"
    )
    out("learned: each rule posted under its rarest words as counted in the items (a daemon's matcher")
    out("  learns these counts from the items it matches, then posts its rules again: the steady state);")
    out(
        "+analysis: analyze_item + match (learned), end to end; speedup: every-rule / indexed, heuristic/learned;"
    )
    out("every-rule it/s: Query.evaluate of every rule, timed on (sample) items and extrapolated.")
    out("All three agree on every sampled item, the two indexes on every item (checked).")
    out(
        f"Rules are gc.freeze()d before timing; each timing is the best of {REPEATS} runs taking turns,"
        " each item timed just after its analysis."
    )
    if any("e2e" in r for r in rows):
        report_split(rows, analyze_per_item, n_docs)
    first, last = rows[0], rows[-1]
    for key, label in (("indexed_per_item", "heuristic"), ("indexed_df_per_item", "learned")):
        growth = (last[key] + analyze_per_item) / (first[key] + analyze_per_item)
        out(
            f"time per item (analysis + match, {label}) grows {growth:.2f}x from {first['n']:,} to {last['n']:,} rules"
        )


def report_split(rows: list[dict], analyze_per_item: float, n_docs: int) -> None:  # type: ignore[type-arg]
    """The end-to-end figures, each beside the one-thread baselines of the same run."""
    out()
    out(
        f"end to end, learned index: {WORKERS} worker processes; {n_docs} items in feeds of {BATCH};"
        " the ingest thread's whole work (item rows, match rows)"
    )
    for r in rows:
        e2e, thread, naive = r["e2e"], r["thread"], r["naive_per_item"]
        one = thread["analyse_match"]
        for key, label, base, base_label in (
            ("analyse", "workers analyse, main matches      ", 1 / one, "analysis + match"),
            (
                "parse",
                "workers parse+analyse, main matches",
                1 / (thread["parse"] + one),
                "parse + analysis + match",
            ),
        ):
            f = e2e[key]
            out(
                f"{r['n']:>8,} rules, {label}: {1 / f['wall']:>7,.0f} items/s (main {f['main'] * 1e6:.0f} us, workers"
                f" {f['work'] * 1e6:.0f} us an item; idle 2 cores: {capacity(f):,.0f}/s) | one thread, {base_label}:"
                f" {base:,.0f}/s"
            )
        out(
            f"{'':>8}  baselines: analysis alone {1 / analyze_per_item:,.0f} items/s; every-rule loop"
            f" {1 / naive:,.1f} items/s ({1 / (naive + analyze_per_item):,.1f} with analysis);"
            f" feedparser alone {1 / thread['parse']:,.0f} items/s"
        )
    out(
        "items/s: wall clock on this shared machine; main: CPU of the main process (all its threads: one GIL,"
    )
    out(
        "  at most one core); idle 2 cores: 1 / max(main, (main + workers) / 2), the rate 2 free cores allow."
    )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, load the articles, run every size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--quick", action="store_true", help="200 and 2,000 rules on 300 items")
    parser.add_argument(
        "--end-to-end",
        action="store_true",
        help=f"also analyse in {WORKERS} worker processes (then parse too) while the main process matches",
    )
    parser.add_argument(
        "--band",
        type=lambda s: tuple(float(x) for x in s.split(",")),
        default=(0.0025, 0.025),
        help="document-frequency band of rule words, as fractions of the articles (default 0.0025,0.025)",
    )
    args = parser.parse_args(argv)
    gc.set_threshold(50_000, 50, 100)
    items = load_articles(args.data)
    sizes = args.sizes or ([200, 2000] if args.quick else [1000, 10_000, 100_000])
    if args.quick:
        items = items[:300]
    mid, texts = vocabulary(items, args.band)
    docs = [analyze_item(i) for i in items]  # warms the stemmer cache, as in a running daemon
    counts = StemCounts()
    learn_s = timed(lambda: [counts.add(d) for d in docs])[1]
    frequencies = counts.frequencies()
    analyze_s = min(timed(lambda: [analyze_item(i) for i in items])[1] for _ in range(REPEATS))
    low, high = args.band
    out(f"{args.data.name}: {len(items)} articles, {len(mid)} words in {low:.2%}-{high:.2%} of them")
    rows = []
    for n in sizes:
        sample = 20 if n >= 100_000 else (50 if n >= 10_000 else 200)
        e2e = args.data if args.end_to_end else None
        rows.append(run_size(n, mid, texts, items, min(sample, len(items)), frequencies, e2e))
        out(f"  measured {n:,} rules")
    report(rows, analyze_s / len(items), len(items))
    out(
        f"learning (counting an item's words) costs {learn_s / len(docs) * 1e6:.0f} us per item, until 65,536 items"
    )


if __name__ == "__main__":
    main()
