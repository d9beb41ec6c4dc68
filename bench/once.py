"""`monitor run --once` over one feed of all 2,125 BBC articles with 20,000 rules, against a plain loop.

    python bench/once.py                 # 20,000 rules
    python bench/once.py --rules 1000    # smaller
    python bench/once.py --repeat 3      # best of 3 runs of each side, taking turns (a loaded machine)

The plain loop is what a script would do (bench/plainloop.py): feedparser on the feed, then for every
item the set of its stemmed words, and every rule checked against it (all of a rule's words present;
an OR group: any). `monitor run --once` runs as a subprocess on a fresh SQLite database: config load
(compiling every rule), fetch, parse, store 2,125 items, match with the rule index, record matches
and events. Rules have no channel (dry run), so both sides do the same work: find which rules match
which items. The speedup is against the plain loop run the same way, as a fresh `python` process
(its interpreter start and its imports of feedparser and the stemmer included); the loop timed
inside this process, everything imported already, is shown beside it.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from match import DEFAULT_DATA, generate_rules, load_articles, out, vocabulary
from plainloop import plain_loop

PLAIN_LOOP = Path(__file__).resolve().parent / "plainloop.py"


def feed_xml(items: list[dict[str, str]]) -> str:
    """An RSS document with every article as an item."""
    entries = "".join(
        f"<item><title>{html.escape(it['title'])}</title><guid>bbc-{i}</guid>"
        f"<link>https://bbc.example.org/{i}</link><description>{html.escape(it['content'])}</description></item>"
        for i, it in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>bbc</title>{entries}</channel></rss>'


def rules_yaml(feed: Path, queries: list[str]) -> str:
    lines = ["feeds:", f"  - {{name: bbc, url: {feed}, backfill: true}}", "rules:"]
    lines += [f"  - {{name: r{i}, match: {json.dumps(q)}}}" for i, q in enumerate(queries)]
    return "\n".join(lines) + "\n"


def timed_plain_loop(feed: Path, queries: Path) -> tuple[float, int]:
    """Seconds the plain loop takes as a fresh `python` process (start and imports included), and its hits."""
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, str(PLAIN_LOOP), str(feed), str(queries)], capture_output=True, text=True, check=True
    )
    return time.perf_counter() - start, int(run.stdout)


CACHES = ("compiled-queries.json", "stem-cache.json")  # what a run leaves in the data folder for the next


def timed_run(root: Path, run_dir: Path, caches: Path | None = None) -> float:
    """Seconds `monitor run --once` takes in `root` on a fresh database in `run_dir` (with a copy of
    the cache files in `caches`, if given); a failure ends the benchmark. Its log goes to a file: a
    pipe read by this process would compete with it for the CPU."""
    run_dir.mkdir()
    for name in CACHES if caches is not None else ():
        shutil.copy(caches / name, run_dir / name)
    env = {**os.environ, "MONITOR_DB": f"sqlite:///{run_dir}/monitor.db", "MONITOR_HTTP": "off"}
    log = run_dir / "monitor.log"
    with log.open("wb") as stderr:
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--once"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        seconds = time.perf_counter() - start
    if run.returncode:
        sys.exit(f"monitor run --once failed:\n{log.read_text(errors='replace')[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=1, help="Best of this many runs of each (default 1).")
    args = parser.parse_args()
    items = load_articles(args.data)
    mid, texts = vocabulary(items)
    queries = generate_rules(args.rules, mid, texts)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        feed = root / "bbc.xml"
        feed.write_text(feed_xml(items), encoding="utf-8")
        (root / "rules").mkdir()
        (root / "rules" / "bench.yaml").write_text(rules_yaml(feed, queries), encoding="utf-8")
        (root / "queries.json").write_text(json.dumps(queries), encoding="utf-8")
        (root / "alerts").mkdir()
        (root / "alerts" / "channels.yaml").write_text("channels:\n  console: {type: console}\n")
        out(f"{len(items)} articles, {len(queries)} rules, best of {args.repeat}")
        # taking turns, so a burst of load elsewhere on the machine does not fall on one side only
        ours, warm, naive, inside, naive_hits = [], [], [], [], 0
        for n in range(args.repeat):
            ours.append(timed_run(root, root / f"cold{n}"))
            # the same run on a fresh database, the caches of the first run (compiled queries, stems) beside it
            warm.append(timed_run(root, root / f"warm{n}", root / "cold0"))
            seconds, naive_hits = timed_plain_loop(feed, root / "queries.json")
            naive.append(seconds)
            start = time.perf_counter()
            assert plain_loop(feed.read_bytes(), queries) == naive_hits
            inside.append(time.perf_counter() - start)
        env = {**os.environ, "MONITOR_DB": f"sqlite:///{root}/cold0/monitor.db", "MONITOR_HTTP": "off"}
        count = subprocess.run(
            [sys.executable, "-m", "monitor", "events", "--kind", "match"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.count("\n")
    best, best_warm, best_naive, best_inside = min(ours), min(warm), min(naive), min(inside)
    out(f"monitor run --once : {best:7.2f} s  ({count} matches stored, everything included)")
    out(
        f"  rules unchanged  : {best_warm:7.2f} s  (the first run's compiled-query and stem caches, fresh database)"
    )
    out(
        f"plain loop         : {best_naive:7.2f} s  ({naive_hits} hits, parse + every rule x every item; a fresh process)"
    )
    out(
        f"  in this process  : {best_inside:7.2f} s  (the same loop, feedparser and the stemmer imported already)"
    )
    out(
        f"speedup            : {best_naive / best:7.2f}x first run, {best_naive / best_warm:.2f}x rules unchanged"
        f" ({best_inside / best:.2f}x / {best_inside / best_warm:.2f}x against the loop in this process;"
        " targets: >= 5x at 20,000 rules, > 1x at 1,000)"
    )


if __name__ == "__main__":
    main()
