"""The rules file's schema: every key, its type, its default and its own checks, in one place.

`RulesFile` is one `rules/*.yaml` file; `FeedSpec`, `RuleSpec`, `ExamplesSpec` and `ExampleSpec` are its parts.
Every model forbids unknown keys and reads the plain values of `validation.plain` (strings as written,
`YamlBool` for true/false, None for null). A check that needs more than one value (a feed or tag a rule
names, a channel, the query against the aliases, the examples against the query) is in `rules.py`.

An error raised here is a `PydanticCustomError` whose context the loader turns into a message:
`expected` (what the value should be), or `invalid` (a `message` with `{what}` where the key is named).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from monitor.config.crontab import cron_trigger
from monitor.config.durations import parse_duration
from monitor.config.validation import YamlBool

DEFAULT_EVERY = timedelta(minutes=10)
DEFAULT_LOOKBACK = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(days=30)
URL_EXPECTED = "an http(s) URL, a file:///absolute/path URL, or a path relative to the rules file"
LIST_HINT = " (write [a, b] or one '- item' a line)"
CRON_EXPECTED = "expected minute hour day-of-month month day-of-week, e.g. '0 8 * * mon-fri'"
TIMEZONE_EXPECTED = "expected an IANA name like Europe/London or UTC"


def expected(what: str, hint: str = "") -> PydanticCustomError:
    """The value has the wrong shape: `expected {what} for 'key', got a list`."""
    return PydanticCustomError("expected", "expected {expected}", {"expected": what, "hint": hint})


def invalid(message: str) -> PydanticCustomError:
    """The value is the right shape but wrong; `{what}` in the message becomes the key's name."""
    return PydanticCustomError("invalid", "{message}", {"message": message})


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise expected("a string")
    if not value.strip():
        raise PydanticCustomError("empty", "expected a non-empty string")
    return str(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, YamlBool):
        raise expected("true or false")
    return bool(value)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise expected("a list", LIST_HINT)
    return value


def _items_or_none(value: Any) -> list[Any] | None:
    return None if value is None else _items(value)


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise expected("a mapping")
    return value


def _duration(value: Any) -> timedelta:
    text = _text(value)
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise invalid(f"invalid duration '{text}' for {{what}}: {exc}") from None


def _cron(value: Any) -> str | None:
    if value is None:
        return None
    text = _text(value)
    try:
        cron_trigger(text, None)
    except ValueError as exc:
        raise invalid(f"invalid cron expression '{text}' for {{what}}: {exc} ({CRON_EXPECTED})") from None
    return text


def _timezone(value: Any) -> str:
    name = _text(value)
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(f"unknown timezone '{name}' ({TIMEZONE_EXPECTED})") from None


def _example(value: Any) -> Any:
    if isinstance(value, dict):
        return value
    text = _text(value)
    return {"title": text, "summary": text, "content": text}


def _not_empty(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value == ():
        raise invalid("{what} is empty (list feed names or tags, or leave it out: every feed)")
    return value


Text = Annotated[str, BeforeValidator(_text)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
TextList = Annotated[tuple[Text, ...], BeforeValidator(_items)]


class Spec(BaseModel):
    """A part of the rules file: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FeedSpec(Spec):
    """One entry of `feeds:`."""

    name: Text
    url: Text = Field(description=URL_EXPECTED)  # resolved against the rules file's folder in rules.py
    every: Duration = DEFAULT_EVERY
    tags: TextList = ()
    backfill: Flag = False
    fulltext: Flag = False  # fetch each new item's article page and match its main text too
    enabled: Flag = True


class ExampleSpec(Spec):
    """An example item: a string stands for its title, summary and content alike."""

    title: Text = ""
    summary: Text = ""
    content: Text = ""
    author: Text = ""
    category: Text = ""
    feed: Text = ""
    link: Text = ""


Example = Annotated[ExampleSpec, BeforeValidator(_example)]


class ExamplesSpec(Spec):
    """`examples:` items the rule must match and must not match, checked at every load."""

    match: Annotated[tuple[Example, ...], BeforeValidator(_items)] = ()
    no_match: Annotated[tuple[Example, ...], BeforeValidator(_items)] = ()


class RuleSpec(Spec):
    """One entry of `rules:`."""

    name: Text
    match: Text = Field(description="a query, e.g. 'ceasefire Ukraine'")
    # names or tags; None (absent or null): every feed
    feeds: Annotated[tuple[Text, ...] | None, BeforeValidator(_items_or_none), AfterValidator(_not_empty)] = (
        None
    )
    alert: TextList = ()  # channel names; empty: matches are only logged (a dry run)
    digest: Annotated[str | None, BeforeValidator(_cron)] = None
    lookback: Annotated[timedelta | None, BeforeValidator(_duration)] = None  # None: the global `lookback`
    examples: Annotated[ExamplesSpec, BeforeValidator(_mapping)] = ExamplesSpec()
    enabled: Flag = True


class RulesFile(Spec):
    """One rules/*.yaml file. The settings (timezone, lookback, retention) may be set in one file only."""

    feeds: Annotated[tuple[FeedSpec, ...], BeforeValidator(_items)] = ()
    rules: Annotated[tuple[RuleSpec, ...], BeforeValidator(_items)] = ()
    aliases: Annotated[dict[Text, TextList], BeforeValidator(_mapping)] = {}
    timezone: Annotated[str | None, BeforeValidator(_timezone)] = None  # IANA name; None: the machine's
    lookback: Duration = DEFAULT_LOOKBACK  # the default of every rule's lookback
    retention: Duration = DEFAULT_RETENTION


SETTINGS = ("timezone", "lookback", "retention")
