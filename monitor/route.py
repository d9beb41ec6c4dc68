"""Route: one Delivery per (match, channel) of the rule; digest rules wait for their cron time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tzlocal import get_localzone

from monitor.config import Config, RuleConfig
from monitor.config.crontab import cron_trigger


def delivery_id(match_id: str, channel: str) -> str:
    """Stable per (match, channel): the webhook-id and Message-ID of every (re-)send."""
    return "msg_" + hashlib.sha256(f"{match_id}\x1f{channel}".encode()).hexdigest()[:24]


def next_digest(rule: RuleConfig, config: Config, now: datetime) -> datetime:
    """The next time the rule's digest cron fires, in the configured timezone."""
    assert rule.digest is not None
    tz = ZoneInfo(config.timezone) if config.timezone else get_localzone()
    fire: datetime | None = cron_trigger(rule.digest, tz).get_next_fire_time(None, now)  # untyped lib
    assert fire is not None
    return fire


def route(config: Config, matches: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Delivery rows for new matches; a rule without `alert` routes nowhere (a dry run)."""
    rows = []
    for match in matches:
        rule = config.rules.get(match["rule"])
        if rule is None:
            continue
        when, group = now, None
        if rule.digest:
            when = next_digest(rule, config, now)
            group = f"digest:{rule.name}:{when.isoformat()}"
        for channel in rule.alert:
            if (known := config.channels.get(channel)) is not None and not known.enabled:
                continue  # `enabled: false` on the channel: nothing is queued for it
            rows.append(
                {
                    "id": delivery_id(match["id"], channel),
                    "match_id": match["id"],
                    "rule": rule.name,
                    "channel": channel,
                    "status": "pending",
                    "attempts": 0,
                    "group_key": group,
                    "next_attempt_at": when,
                    "created_at": now,
                }
            )
    return rows
