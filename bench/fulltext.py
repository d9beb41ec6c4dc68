"""Full-text benchmark: which extractor, and what a `fulltext` feed costs to ingest.

    python bench/fulltext.py [--pages 400] [--items 50] [--delay 0.2]

1. Extraction, on pages built from the BBC data set (../shared/data/bbc-news/) wrapped in site
   boilerplate (tests/newssite.py: navigation saying "Thursday briefing", a cookie banner, a "most read"
   box, related links and a share bar inside the article, a footer, scripts, styles); each story cut to
   1, 2, 3 or all of its paragraphs, since short stories are where extractors fall back on the whole
   page. For trafilatura as monitor runs it (monitor/extract.py) and readability-lxml (its HTML made
   text by the same scanner): the share of each article's sentences recovered, the share of the
   boilerplate sentences kept (those the story itself does not say), pages a second and CPU per page
   (one process each, one core), and the peak RSS of that process.
2. Ingest: a 50-item `fulltext` feed on a loopback server in another process, every page answering after
   200 ms, through the real pipeline (poll, article fetcher, parse workers, SQLite): the time until
   every item is matched, beside the ideal for 4 requests at a time (ceil(50 / 4) x 200 ms) and the
   naive baseline of reading the pages one after another.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import random
import re
import resource
import sys
import tempfile
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from newssite import BOILERPLATE_SENTENCES, article_page, bbc_articles, sentences  # noqa: E402


def find_data() -> Path:
    """../shared/data/bbc-news/articles.csv beside the repository (or beside a folder above it)."""
    for folder in ROOT.parents:
        path = folder / "shared" / "data" / "bbc-news" / "articles.csv"
        if path.is_file():
            return path
    raise SystemExit("bench/fulltext.py: no shared/data/bbc-news/articles.csv beside the repository")


def build_pages(count: int, seed: int = 7) -> list[tuple[list[str], bytes]]:
    """(paragraphs, page) for `count` BBC stories, each cut to 1, 2, 3 or all paragraphs."""
    rng = random.Random(seed)
    pages = []
    for title, paragraphs in bbc_articles(find_data(), limit=count):
        kept = paragraphs[: rng.choice([1, 2, 3, len(paragraphs)])]
        pages.append((kept, article_page(title, kept)))
    return pages


def _trafilatura(page: bytes) -> str:
    from monitor.errors import ParseError
    from monitor.extract import extract_article

    try:
        return extract_article(page, "https://news.example/story", "text/html")
    except ParseError:
        return ""


def _readability(page: bytes) -> str:
    from readability import Document

    from monitor.htmltext import html_to_text

    return html_to_text(Document(page).summary(html_partial=True))


EXTRACTORS = {"trafilatura 2.3.1": _trafilatura, "readability-lxml 0.9": _readability}


def _extract_all(name: str, pages: list[bytes], out: Connection) -> None:
    """In a fresh process: extract every page; send back the texts, wall and CPU seconds, peak RSS."""
    extract = EXTRACTORS[name]
    extract(pages[0])  # imports and first-use set-up are not per-page costs
    wall, cpu = time.perf_counter(), time.process_time()
    texts = [extract(page) for page in pages]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out.send((texts, wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def _words(text: str) -> str:
    return " " + " ".join(re.sub(r"[^\w]+", " ", text.lower()).split()) + " "


def quality(stories: list[list[str]], texts: list[str]) -> tuple[float, float]:
    """(mean share of article sentences recovered, mean share of boilerplate sentences kept)."""
    recovered = kept = 0.0
    for paragraphs, text in zip(stories, texts, strict=True):
        got, story = _words(text), _words(" ".join(paragraphs))
        wanted = [s for p in paragraphs for s in sentences(p)] or paragraphs
        recovered += sum(_words(s) in got for s in wanted) / len(wanted)
        chrome = [b for b in BOILERPLATE_SENTENCES if _words(b) not in story]
        kept += sum(_words(b) in got for b in chrome) / len(chrome)
    return recovered / len(stories), kept / len(stories)


def bench_extraction(count: int) -> None:
    built = build_pages(count)
    stories, pages = [p for p, _ in built], [page for _, page in built]
    print(f"extraction: {len(pages)} BBC stories in site boilerplate (cut to 1, 2, 3 or all paragraphs)")
    print(
        f"  {'library':<22} {'sentences recovered':>20} {'boilerplate kept':>17} {'pages/s':>8} {'CPU/page':>9} {'peak RSS':>9}"
    )
    context = multiprocessing.get_context("spawn")
    for name in EXTRACTORS:
        mine, theirs = context.Pipe(duplex=False)
        worker = context.Process(target=_extract_all, args=(name, pages, theirs))
        worker.start()
        texts, wall, cpu, rss = mine.recv()
        worker.join()
        recovered, kept = quality(stories, texts)
        print(
            f"  {name:<22} {recovered:>19.2%} {kept:>16.2%} {len(pages) / wall:>8.0f}"
            f" {cpu / len(pages) * 1000:>7.1f}ms {rss / 2**20:>7.0f}MB"
        )


def _serve(count: int, delay: float, out: Connection) -> None:
    """In another process: the feed and its pages, each page answering after `delay` seconds."""
    from feeds import It, rss
    from feedserver import FeedServer

    paragraphs = ["Troops were moved to the border overnight, officials said on Sunday morning."] * 4
    server = FeedServer()
    items = [It(f"Story {i}", text="A first sentence.", link=server.url(f"/a/{i}")) for i in range(count)]
    server.feed("/rss", rss(*items))
    page = article_page("A story", paragraphs)
    for i in range(count):
        server.route(f"/a/{i}", _html(server, page, delay))
    out.send(server.url(""))
    out.recv()  # until the benchmark is done
    server.close()


def _html(server: Any, page: bytes, delay: float) -> Any:
    def handle(h: Any) -> None:
        if not server.stopping.wait(delay):
            h.reply(200, page, {"Content-Type": "text/html; charset=utf-8"})

    return handle


def bench_ingest(count: int, delay: float) -> None:
    from sqlmodel import Session, col, select

    from monitor import db, parsepool, pipeline
    from monitor.articlefetch import ArticleFetcher
    from monitor.config import load_config
    from monitor.models import Item
    from monitor.runtime import Active, Runtime

    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    server = context.Process(target=_serve, args=(count, delay, theirs), daemon=True)
    server.start()
    base = mine.recv()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "rules").mkdir()
        (folder / "rules" / "r.yaml").write_text(
            f'feeds:\n  - {{name: news, url: "{base}/rss", fulltext: true, backfill: true}}\n'
            "rules:\n  - {name: troops, match: 'troops AND border'}\n"
        )
        (folder / "channels.yaml").write_text("channels: {}\n")
        config = load_config(folder / "rules", folder / "channels.yaml")
        engine = db.make_engine(f"sqlite:///{folder / 'bench.db'}")
        db.upgrade(engine)
        pipeline.sync_feeds(engine, config)
        parsepool.warm_up()
        rt = Runtime(engine, Active.build(config))
        start = time.perf_counter()
        pipeline.poll_due(rt, every_feed=True)
        ArticleFetcher(rt).run_until_idle()
        took = time.perf_counter() - start
        with Session(engine) as session:
            done = len(list(session.exec(select(Item.id).where(col(Item.article_status) == "ok"))))
        start = time.perf_counter()
        for i in range(count):  # naive: one page after another
            urllib.request.urlopen(f"{base}/a/{i}", timeout=30).read()
        naive = time.perf_counter() - start
    mine.send("done")
    server.join(timeout=10)
    parsepool.shutdown()
    ideal = math.ceil(count / 4) * delay
    print(f"ingest: a {count}-item fulltext feed, every page answering after {delay * 1000:.0f} ms, one host")
    print(f"  monitor (poll, 4 pages at a time, extract, match): {took:.2f} s, {done}/{count} articles read")
    print(f"  ideal for 4 requests at a time: {ideal:.2f} s   naive (one page after another): {naive:.2f} s")


def main() -> None:
    logging.getLogger("monitor").setLevel(logging.WARNING)  # the figures, not the event log
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()
    bench_extraction(args.pages)
    bench_ingest(args.items, args.delay)


if __name__ == "__main__":
    main()
