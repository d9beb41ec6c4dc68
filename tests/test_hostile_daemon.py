"""Hostile feeds against a running daemon: each costs at most 30 s and bounded memory, none delays the others.

One `monitor run` polls a healthy feed beside eleven broken ones, every second. The healthy feed's alerts
must keep arriving within a few seconds (also in the first batch, which holds the hanging and dripping
feeds), the peak memory of the daemon and of each of its parse workers must stay under 300 MB, and
`monitor feeds` must show each broken feed failing or degraded with its reason once the 30 s fetch
deadline has passed. SIGTERM must not wait for the fetches still hanging.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from receivers import HttpReceiver
from waiting import wait_until

pytestmark = pytest.mark.slow

PEAK_MB = 300
ON_TIME = 5.0  # seconds from a healthy item's publication to its webhook (1 s polls, 1 s delivery ticks)


def entity_bomb() -> bytes:
    levels = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10)]
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(levels)}]>'
        '<rss version="2.0"><channel><title>&l9;</title><item><title>troops &l9;</title></item></channel></rss>'
    ).encode()


def author_bomb() -> bytes:
    return rss(It("Author bomb", link="https://h.example/a")).replace(
        b"<description>", b"<author>" + b"a" * 2_000_000 + b"</author><description>"
    )


def latin1_feed() -> bytes:
    text = rss(It("Troops in Zürich café", link="https://h.example/latin")).decode()
    return text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("iso-8859-1")


def serve_hostile(server: FeedServer) -> dict[str, str]:
    """Route every fault; return feed name -> path."""
    server.status("/e500.xml", 500)
    server.status("/e404.xml", 404)
    server.hang("/hang.xml")
    server.drip("/drip.xml", rss(It("drip")), interval=0.5)
    server.redirect("/loop-a.xml", "/loop-b.xml")
    server.redirect("/loop-b.xml", "/loop-a.xml")
    server.huge("/huge.xml", 11 * 2**20, declare_length=False)
    server.status(
        "/bomb.xml", 200, body=gzip.compress(b"\0" * 64 * 2**20), headers={"Content-Encoding": "gzip"}
    )
    server.feed("/entities.xml", entity_bomb())
    server.feed("/author.xml", author_bomb())
    server.feed("/malformed.xml", b"<rss><channel><title>m</title><item><title>troops &amp</item></channel>")
    server.feed("/latin1.xml", latin1_feed(), content_type="application/rss+xml; charset=ISO-8859-1")
    names = (
        "e500",
        "e404",
        "hang",
        "drip",
        "loop",
        "huge",
        "bomb",
        "entities",
        "author",
        "malformed",
        "latin1",
    )
    return {name: "/loop-a.xml" if name == "loop" else f"/{name}.xml" for name in names}


def peak_mb(pid: int) -> float:
    """A process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def family(pid: int) -> list[int]:
    """`pid` and its descendants (the parse workers and their fork server)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [pid, *(p for child in children for p in family(child))]


def feed_rows(project: Project) -> dict[str, dict[str, object]]:
    result = project.cli("feeds", "--json")
    return {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}


def test_hostile_feeds_cost_bounded_time_and_memory_and_never_delay_a_healthy_feed(project: Project) -> None:
    server, hook = FeedServer(), HttpReceiver().__enter__()
    try:
        items = [It("Troops seen at dawn", link="https://n.example/0")]
        server.feed("/world.xml", rss(*items))
        hostile = serve_hostile(server)
        lines = [f'  - {{name: world, url: "{server.url("/world.xml")}", every: 1s, backfill: true}}']
        lines += [
            f'  - {{name: {n}, url: "{server.url(p)}", every: 1s, backfill: true}}'
            for n, p in hostile.items()
        ]
        project.write(
            "rules/watch.yaml",
            "feeds:\n" + "\n".join(lines) + "\nrules:\n  - {name: r, match: troops, alert: [hook]}\n",
        )
        project.write("alerts/channels.yaml", 'channels:\n  hook: {type: webhook, url: "${WEBHOOK_URL}"}\n')
        project.env["WEBHOOK_URL"] = hook.url
        started = time.monotonic()
        daemon = project.start()

        def arrived(title: str) -> bool:
            return any(r.json()["item"]["title"] == title for r in hook.requests)

        # The first batch holds every feed, the hanging and dripping ones too: the healthy one is not held up.
        wait_until(lambda: arrived(items[0].title), timeout=15, message="first healthy alert")
        assert time.monotonic() - started < 12  # process start and imports included; the deadline is 30 s

        for n in range(1, 4):  # a new story every few seconds keeps alerting on time
            items.insert(0, It(f"Troops move, update {n}", link=f"https://n.example/{n}"))
            server.feed("/world.xml", rss(*items))
            published = time.monotonic()
            wait_until(lambda: arrived(items[0].title), timeout=ON_TIME + 5, message=items[0].title)
            assert time.monotonic() - published < ON_TIME

        rows = wait_until(
            lambda: (r := feed_rows(project)) and r["hang"]["failures"] and r["drip"]["failures"] and r,
            timeout=45, every=1.0, message="the hanging and dripping feeds to time out",
        )  # fmt: skip
        assert time.monotonic() - started < 45  # each at most the 30 s deadline
        items.insert(0, It("Troops after the timeouts", link="https://n.example/late"))
        server.feed("/world.xml", rss(*items))
        published = time.monotonic()
        wait_until(lambda: arrived(items[0].title), timeout=ON_TIME + 5, message="alert after the timeouts")
        assert time.monotonic() - published < ON_TIME
        assert daemon.poll() is None
        peaks = {pid: peak_mb(pid) for pid in family(daemon.pid)}
        assert max(peaks.values()) < PEAK_MB, f"peak resident memory by process (MB): {peaks}"
        stopping = time.monotonic()  # the hanging and dripping feeds are being fetched again right now
        assert project.stop(daemon, timeout=40) == 0
        assert time.monotonic() - stopping < 10  # SIGTERM abandons fetches in flight, not waiting 30 s
    finally:
        server.close()
        hook.__exit__()

    reasons = {name: (row["status"], str(row["reason"])) for name, row in rows.items()}
    expect = {
        "e500": ("failing", "HTTP 500"),
        "e404": ("failing", "HTTP 404"),
        "hang": ("failing", "timed out after 30 s"),
        "drip": ("failing", "timed out after 30 s"),
        "loop": ("failing", "redirect loop"),
        "huge": ("failing", "over 10 MB"),
        "bomb": ("failing", "inflates over 10 MB"),
        "entities": ("degraded", "entity"),
        "author": ("degraded", "author"),
        "malformed": ("degraded", ""),
    }
    for name, (status, reason) in expect.items():
        assert reasons[name][0] == status and reason in reasons[name][1], (name, reasons[name])
    assert reasons["world"] == ("ok", "None") and reasons["latin1"] == ("ok", "None")
    assert arrived_title(hook, "Troops in Zürich café")


def arrived_title(hook: HttpReceiver, title: str) -> bool:
    return any(r.json()["item"]["title"] == title for r in hook.requests)


def test_a_catastrophic_regex_rule_and_a_hostile_item_stall_nothing(project: Project) -> None:
    """With Python's backtracking engine these rules never finish on a word of 64 a's: no alert, no SIGTERM."""
    server, hook = FeedServer(), HttpReceiver().__enter__()
    try:
        hostile = It("a" * 64, link="https://h.example/a", text=("a" * 64 + " ") * 50)
        server.feed("/world.xml", rss(It("Troops seen at dawn", link="https://n.example/0"), hostile))
        rules = [
            "{name: stall1, match: '/(?:a|a)*c/', alert: [hook]}",
            "{name: stall2, match: '/.*a.*a.*a.*a.*a.*a.*a.*c/', alert: [hook]}",
            "{name: healthy, match: troops, alert: [hook]}",
        ]
        project.write(
            "rules/watch.yaml",
            f'feeds:\n  - {{name: world, url: "{server.url("/world.xml")}", every: 1s, backfill: true}}\n'
            "rules:\n" + "".join(f"  - {r}\n" for r in rules),
        )
        project.write("alerts/channels.yaml", 'channels:\n  hook: {type: webhook, url: "${WEBHOOK_URL}"}\n')
        project.env["WEBHOOK_URL"] = hook.url
        assert project.cli("check").returncode == 0
        daemon = project.start()
        wait_until(lambda: arrived_title(hook, "Troops seen at dawn"), timeout=30, message="healthy alert")
        stopping = time.monotonic()
        assert project.stop(daemon, timeout=30) == 0
        assert time.monotonic() - stopping < 10
        assert [r.json()["rule"] for r in hook.requests] == ["healthy"]
    finally:
        server.close()
        hook.__exit__()
