"""Open MONITOR_DB for a command: one line naming what is wrong, never the password, no empty database made by a look.

`open_database` checks the URL (scheme, port), connects and upgrades the schema. Every failure is a
`SettingError` that names the URL with its password hidden and says why in a few words: the
connection was refused, the host is unknown, the port is invalid, the scheme is not one monitor
speaks. A read-only command (`monitor feeds`, `events`, ...) opens with `create=False`, so run
outside a monitor folder it says there is no database there instead of creating an empty one.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from monitor import db
from monitor.errors import SettingError

EXPECTED = "expected sqlite:///path/to/file.db or postgresql://user:password@host:5432/dbname"
_USERINFO = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def open_database(url: str, *, create: bool = True, rules: Path = Path("rules")) -> sa.Engine:
    """An engine on `url` with the schema at head; SettingError with one clear line if that fails.

    `create=False` (the read-only commands): a SQLite file that does not exist is an error, not
    created; `rules` is the rules folder, to tell "not yet run here" from "not a monitor folder".
    """
    engine = engine_for(url, create=create, rules=rules)
    upgrade(engine)
    return engine


def engine_for(url: str, *, create: bool = True, rules: Path = Path("rules")) -> sa.Engine:
    """The engine of a checked URL, not yet connected."""
    parsed = parse_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if not create and parsed.get_backend_name() == "sqlite":
        _require_file(parsed, shown, rules)
    try:
        return db.make_engine(url)
    except OSError as exc:
        raise SettingError(f"MONITOR_DB {shown}: cannot create its folder ({exc.strerror or exc})") from None


def upgrade(engine: sa.Engine) -> None:
    """Connect and bring the schema to head (`db.upgrade`); a failure to connect is one line."""
    try:
        db.upgrade(engine)
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        as_written = engine.url.set(drivername=engine.url.get_backend_name())  # not the +psycopg driver
        shown = as_written.render_as_string(hide_password=True)
        raise SettingError(f"MONITOR_DB {shown}: {connect_problem(exc, engine.url)}") from None


def parse_url(url: str) -> sa.URL:
    """The URL, checked for a scheme monitor speaks and a valid port."""
    try:
        parsed = sa.engine.make_url(url)
        parsed.port  # noqa: B018 (a port that is not a number fails here)
    except (sa.exc.ArgumentError, ValueError):
        # Not shown: a string that does not parse may still hold a password.
        raise SettingError(f"MONITOR_DB is not a database URL ({EXPECTED})") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise SettingError(
            f"MONITOR_DB {parsed.render_as_string(hide_password=True)}: unsupported scheme "
            f"'{parsed.drivername}' ({EXPECTED})"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise SettingError(
            f"MONITOR_DB {parsed.render_as_string(hide_password=True)}: invalid port {parsed.port} "
            "(expected 1 to 65535; PostgreSQL listens on 5432)"
        )
    return parsed


def hide_password(text: str) -> str:
    """`scheme://user:secret@host` with the secret replaced by ***."""
    return _USERINFO.sub(r"\1***@", text)


def connect_problem(exc: sa.exc.DBAPIError, url: sa.URL) -> str:
    """The driver's reason in a few words: its first line, the password scrubbed."""
    lines = [line.strip() for line in str(exc.orig).splitlines() if line.strip()]
    reason = lines[0] if lines else type(exc.orig).__name__
    reason = " ".join(reason.removeprefix("connection failed: ").split())
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return "cannot connect: " + hide_password(reason)


def _require_file(url: sa.URL, shown: str, rules: Path) -> None:
    """A read-only command on a SQLite file that does not exist: say so, and whether this looks like a monitor folder."""
    path = url.database
    if not path or path == ":memory:" or Path(path).exists():
        return
    if rules.is_dir():
        raise SettingError(f"no database yet at {path} (`monitor run` creates it at its first start)")
    raise SettingError(
        f"no database at {path} and no rules/ folder here: run monitor in its folder (the one holding "
        f"rules/ and alerts/), or point MONITOR_DB at the database (now {shown})"
    )
