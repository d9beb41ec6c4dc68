"""Alert rendering: Jinja2 templates (alerts/templates/ over the built-in ones), snippets and highlights.

Every template runs in a sandbox with StrictUndefined. The file name's middle suffix picks the output
format and so the escaping applied to every `{{ value }}`: `.txt.j2` plain text (control characters
stripped), `.html.j2` HTML (autoescape), `.mrkdwn.j2` Slack mrkdwn (feed text can never ping, link or
format), `.md.j2` Markdown (the same, for Apprise's services). The webhook JSON has no template: its
schema is versioned (docs/webhooks.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import jinja2
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

from monitor import escaping
from monitor.config import files
from monitor.errors import ConfigError, Rejected
from monitor.records import Alert, AlertItem, Snippet

BUILTIN_DIR = Path(__file__).parent / "templates"
TEMPLATES = (
    "console.txt.j2",
    "email_subject.txt.j2",
    "email.txt.j2",
    "email.html.j2",
    "slack_header.txt.j2",
    "slack_context.mrkdwn.j2",
    "slack_item.mrkdwn.j2",
    "apprise_title.txt.j2",
    "apprise.txt.j2",
    "apprise.md.j2",
    "apprise.html.j2",
)
TEST_LABEL = "Test alert"  # what every channel's subject or header starts with for `monitor alerts test`


class Mrkdwn(str):
    """Text already escaped for Slack mrkdwn: output as is by `.mrkdwn.j2` templates."""

    __slots__ = ()


class Markdown(str):
    """Text already escaped for Markdown: output as is by `.md.j2` templates."""

    __slots__ = ()


@dataclass(frozen=True)
class ItemView:
    """One alert item as templates see it: cleaned text, a safe link or None, a cleaned snippet."""

    id: str
    title: str
    link: str | None
    feed: str
    published: datetime | None
    published_text: str
    published_iso: str | None
    matched_terms: tuple[str, ...]
    snippet: Snippet
    snippet_text: str


@dataclass(frozen=True)
class AlertView:
    """An alert as templates see it."""

    id: str
    rule: str
    kind: str
    created: datetime | None
    items: tuple[ItemView, ...]
    extra: Mapping[str, str] = field(default_factory=dict)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (naive datetimes are taken as UTC), or None."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def item_view(item: AlertItem) -> ItemView:
    """Clean one item's untrusted text and drop any link that is not http(s)."""
    snippet = escaping.clean_snippet(item.snippet)
    stamp = iso(item.published)
    return ItemView(
        id=escaping.clean_line(item.id, 200),
        title=escaping.clean_line(item.title, 1000) or "(untitled)",
        link=escaping.checked_link(item.link),
        feed=escaping.clean_line(item.feed, 200),
        published=item.published,
        published_text=stamp.replace("T", " ").replace("Z", " UTC") if stamp else "",
        published_iso=stamp,
        matched_terms=tuple(escaping.clean_line(t, 100) for t in item.matched_terms),
        snippet=snippet,
        snippet_text=snippet.text,
    )


def alert_view(alert: Alert) -> AlertView:
    """The template-facing view of an alert."""
    extra = {escaping.clean_line(k, 100): escaping.clean_line(v, 1000) for k, v in alert.extra.items()}
    items = tuple(item_view(i) for i in alert.items)
    return AlertView(
        escaping.clean_line(alert.id, 200),
        escaping.clean_line(alert.rule, 200),
        alert.kind,
        alert.created,
        items,
        extra,
    )


def _finalize_text(value: Any) -> Any:
    return escaping.strip_controls(value) if isinstance(value, str) else value


def _finalize_mrkdwn(value: Any) -> Any:
    if isinstance(value, Mrkdwn) or value is None:
        return value if value is not None else ""
    return escaping.mrkdwn(escaping.strip_controls(str(value)))


def _finalize_markdown(value: Any) -> Any:
    if isinstance(value, Markdown) or value is None:
        return value if value is not None else ""
    return escaping.markdown(escaping.strip_controls(str(value)))


def _slack_link(url: str | None, label: str) -> Mrkdwn:
    return Mrkdwn(escaping.mrkdwn_link(url, escaping.clean_line(label)))


def _markdown_link(url: str | None, label: str) -> Markdown:
    return Markdown(escaping.markdown_link(url, escaping.clean_line(label)))


def _environment(loader: jinja2.BaseLoader, fmt: str) -> jinja2.Environment:
    """A sandboxed, strict environment for one output format."""
    filters: dict[str, Callable[..., Any]]
    if fmt == "html":
        env = ImmutableSandboxedEnvironment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
        filters = {"highlight": escaping.highlight_html}
    elif fmt == "mrkdwn":
        env = ImmutableSandboxedEnvironment(
            loader=loader, undefined=jinja2.StrictUndefined, finalize=_finalize_mrkdwn
        )
        filters = {"highlight": lambda s: Mrkdwn(escaping.highlight_mrkdwn(s)), "slack_link": _slack_link}
    elif fmt == "md":
        env = ImmutableSandboxedEnvironment(
            loader=loader, undefined=jinja2.StrictUndefined, finalize=_finalize_markdown
        )
        filters = {"highlight": lambda s: Markdown(escaping.highlight_markdown(s)), "link": _markdown_link}
    else:
        env = ImmutableSandboxedEnvironment(
            loader=loader, undefined=jinja2.StrictUndefined, finalize=_finalize_text
        )
        filters = {"highlight": escaping.highlight_text}
    env.filters.update(filters)
    env.keep_trailing_newline = True
    env.trim_blocks, env.lstrip_blocks = True, True
    return env


def _format(name: str) -> str:
    """The output format of a template, from the suffix before `.j2`."""
    return name.removesuffix(".j2").rsplit(".", 1)[-1]


class UserTemplates(jinja2.BaseLoader):
    """The user's templates folder, read as configuration files are (`config.files.read_bytes`).

    A template that is not a regular file (a named pipe, a symlink to `/dev/zero`) is passed over, so the
    built-in template of that name is used (`monitor check` warns about it); one over 10 MB, unreadable or
    not UTF-8 is an error naming the file. Nothing here can block or read without end.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder.joinpath(*split_template_path(template))
        if not path.exists():
            raise jinja2.TemplateNotFound(template)
        try:
            source = files.read_bytes(path).decode("utf-8")
        except files.Unreadable as exc:
            if exc.special:
                raise jinja2.TemplateNotFound(template) from None
            raise jinja2.TemplateError(f"cannot read the file: {exc.reason}") from None
        except UnicodeDecodeError as exc:
            raise jinja2.TemplateError(f"cannot read the file: not UTF-8 text (byte {exc.start})") from None
        mtime = _mtime(path)
        return source, str(path), lambda: _mtime(path) == mtime


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class Renderer:
    """Renders alerts for each channel from the built-in templates overlaid by the user's."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir
        builtin = jinja2.FileSystemLoader(str(BUILTIN_DIR))
        user = [UserTemplates(templates_dir)] if templates_dir is not None else []
        loader = jinja2.ChoiceLoader([*user, builtin])
        self._envs = {fmt: _environment(loader, fmt) for fmt in ("txt", "html", "mrkdwn", "md")}

    def template(self, name: str) -> jinja2.Template:
        """The compiled template `name` (the user's if present, else the built-in one)."""
        return self._envs.get(_format(name), self._envs["txt"]).get_template(name)

    def render(self, name: str, alert: Alert | AlertView, **extra: Any) -> str:
        """Render template `name` for `alert`; a template that fails raises Rejected naming file:line."""
        try:
            return self.render_strict(name, alert, **extra)
        except Exception as exc:  # a user template can fail in any way (1/0, a sandbox refusal...)
            raise Rejected(f"template {_location(exc, name)}: {_message(exc)}") from None

    def render_strict(self, name: str, alert: Alert | AlertView, **extra: Any) -> str:
        """Render template `name` for `alert`, letting Jinja2's errors through."""
        view = alert if isinstance(alert, AlertView) else alert_view(alert)
        context = {
            "alert": view,
            "rule": view.rule,
            "kind": view.kind,
            "items": view.items,
            "test_label": TEST_LABEL,
            **extra,
        }
        context.setdefault("item", view.items[0] if view.items else None)
        return self.template(name).render(context)

    def console(self, alert: Alert) -> str:
        """The console text of an alert."""
        return self.render("console.txt.j2", alert)


def _message(exc: Exception) -> str:
    text = exc.message if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
    return escaping.clean_line(text or type(exc).__name__, 300)


def _location(exc: BaseException, fallback: str) -> str:
    """file:line of the innermost template frame of an exception raised while rendering."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name or fallback}:{exc.lineno}"
    where = fallback
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def sample_alert(count: int = 2, kind: Literal["match", "digest", "test"] | None = None) -> Alert:
    """A made-up alert with `count` items (trial renders; `monitor alerts test` with kind="test")."""
    items = tuple(
        AlertItem(
            id=f"sample-{n}",
            title=f"Sample item {n} about a UK military meeting",
            link=f"https://example.org/news/{n}",
            feed="sample-feed",
            published=datetime(2026, 1, 1, 12, 30 - n, tzinfo=UTC),  # newest first, as grouped alerts
            matched_terms=("UK", "military"),
            snippet=Snippet("On Thursday the UK military met.", ((16, 18), (19, 27))),
        )
        for n in range(1, count + 1)
    )
    chosen = kind or ("digest" if count > 1 else "match")
    return Alert(
        id=f"sample-{chosen}", rule="sample-rule", items=items, kind=chosen, created=datetime.now(UTC)
    )


def check_templates(
    templates_dir: Path | None, warnings: list[tuple[str, int, int, str]] | None = None
) -> list[ConfigError]:
    """Compile and trial-render every template; each problem is a ConfigError at file:line.

    A template that is not a regular file is skipped, with a warning in `warnings` saying why.
    """
    if templates_dir is None or not templates_dir.is_dir():
        return []
    warnings = [] if warnings is None else warnings
    errors: list[ConfigError] = []
    renderer = Renderer(templates_dir)
    for path in sorted(templates_dir.glob("*.j2")):
        reason = files.skip_reason(path)
        if reason:
            instead = "; the built-in template is used" if path.name in TEMPLATES else ""
            warnings.append((str(path), 1, 1, f"skipped: {reason}{instead}"))
            continue
        if path.name not in TEMPLATES and not path.name.startswith("_"):
            expected = ", ".join(TEMPLATES)
            errors.append(ConfigError(str(path), 1, 1, f"unknown template name; expected one of {expected}"))
            continue
        errors.extend(_check_one(renderer, path))
    return errors


def _check_one(renderer: Renderer, path: Path) -> list[ConfigError]:
    """The errors of one user template: syntax first, then a trial render of a match and a digest."""
    try:
        renderer.template(path.name)
        if not path.name.startswith("_"):
            for count in (1, 3):
                renderer.render_strict(path.name, sample_alert(count), prefix="[monitor]", channel="check")
    except Exception as exc:  # every way a template can fail is a problem to report
        file, _, line = _location(exc, str(path)).rpartition(":")
        return [ConfigError(file or str(path), int(line) if line.isdigit() else 1, 1, _message(exc))]
    return []
