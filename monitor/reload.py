"""Reload: a 1 s stat-and-hash tick over the rules and channels files; swap in a valid Config or keep the last good one."""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from monitor import events, metrics
from monitor.config import Config, load_config
from monitor.config.compare import changed_fields
from monitor.config.files import Unreadable, read_bytes
from monitor.config.rulesfile import candidate_files
from monitor.config.secrets import ENV_FILE, environment
from monitor.errors import ConfigError, ConfigErrors
from monitor.runtime import Active, Runtime


def watched_files(rules_dir: Path, channels_file: Path) -> list[Path]:
    """Every file whose edit changes the configuration: `.env` and the `VAR_FILE` secrets too."""
    files = [*candidate_files(rules_dir), channels_file]
    templates = channels_file.parent / "templates"
    if templates.is_dir():
        files += sorted(p for p in templates.rglob("*") if p.is_file())
    files.append(Path(ENV_FILE))
    try:
        text = read_bytes(channels_file).decode("utf-8")  # never blocks on a pipe (see files)
        named = sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)))
    except (Unreadable, UnicodeDecodeError):
        named = []
    env = environment()
    files += [Path(env[f"{name}_FILE"]) for name in named if env.get(f"{name}_FILE")]
    return files


def fingerprint(files: list[Path]) -> str:
    """A hash of the files' names and contents (works on Docker bind mounts, where events may not)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(read_bytes(path))  # never blocks on a pipe nor reads a device for ever
        except Unreadable as exc:
            digest.update(f"<{exc.reason}>".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Diff:
    """What a reload changed, by name; for each changed one, which of its fields."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # changed name -> its changed fields

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self, what: str) -> str:
        changed = [
            f"{name} ({', '.join(self.fields[name])})" if name in self.fields else name
            for name in self.changed
        ]
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (("added", self.added), ("changed", changed), ("removed", self.removed))
            if names
        ]
        return f"{what}: " + "; ".join(parts) if parts else ""


def diff(old: Mapping[str, object], new: Mapping[str, object]) -> Diff:
    """Names added, changed (any field that compares, see config.compare) and removed between two configurations."""
    fields = {name: changed_fields(old[name], new[name]) for name in sorted(set(new) & set(old))}
    return Diff(
        added=tuple(sorted(set(new) - set(old))),
        changed=tuple(name for name, changed in fields.items() if changed),
        removed=tuple(sorted(set(old) - set(new))),
        fields={name: changed for name, changed in fields.items() if changed},
    )


class Reloader:
    """Watches the configuration files; `tick()` returns the new Config when a valid edit was applied."""

    def __init__(self, rt: Runtime, rules_dir: Path, channels_file: Path) -> None:
        self.rt, self.rules_dir, self.channels_file = rt, rules_dir, channels_file
        self.seen = fingerprint(watched_files(rules_dir, channels_file))
        metrics.reloaded(True)

    def tick(self, *, force: bool = False) -> Config | None:
        """Reload if any watched file changed (or `force`, on SIGHUP): swap in the new rules, or record why not."""
        current = fingerprint(watched_files(self.rules_dir, self.channels_file))
        if current == self.seen and not force:
            return None
        self.seen = current
        try:
            config = load_config(self.rules_dir, self.channels_file)  # templates are checked too
            active = Active.build(config, self.rt.active.matcher.learning)
        except ConfigErrors as exc:
            self._failed(exc.errors)
            return None
        except ConfigError as exc:
            self._failed([exc])
            return None
        except Exception as exc:  # a channel that cannot be built: keep the last good one
            reason = f"cannot build channels: {type(exc).__name__}: {exc}"
            self._failed([ConfigError(str(self.channels_file), 1, 1, reason)])
            return None
        old = self.rt.config
        self.rt.active = active
        gc.unfreeze()  # let the replaced rules go, then keep the new ones out of later collections
        gc.collect()
        gc.freeze()
        self._applied(old, config)
        metrics.reloaded(True)
        return config

    def _failed(self, errors: list[ConfigError]) -> None:
        metrics.reloaded(False)
        with Session(self.rt.engine) as session:
            first = errors[0]
            events.record(
                session,
                "reload_failed",
                f"{len(errors)} error(s), keeping the last good rules: "
                + "; ".join(str(e) for e in errors[:10]),
                file=first.file,
                line=first.line,
                col=first.col,
                errors=[str(e) for e in errors],
            )
            session.commit()

    def _applied(self, old: Config, new: Config) -> None:
        rules, feeds, channels = (
            diff(old.rules, new.rules),
            diff(old.feeds, new.feeds),
            diff(old.channels, new.channels),
        )
        summary = "; ".join(
            d.describe(w) for d, w in ((rules, "rules"), (feeds, "feeds"), (channels, "channels")) if d
        )
        with Session(self.rt.engine) as session:
            events.record(
                session,
                "reload",
                summary or "no change in rules, feeds or channels",
                rules_added=list(rules.added),
                rules_changed=list(rules.changed),
                rules_removed=list(rules.removed),
                feeds_added=list(feeds.added),
                feeds_changed=list(feeds.changed),
                feeds_removed=list(feeds.removed),
                channels_added=list(channels.added),
                channels_changed=list(channels.changed),
                channels_removed=list(channels.removed),
                fields_changed={
                    kind: {name: list(names) for name, names in d.fields.items()}
                    for kind, d in (("rules", rules), ("feeds", feeds), ("channels", channels))
                },
            )
            for warning in new.warnings:
                events.record(session, "reload", warning)
            session.commit()
