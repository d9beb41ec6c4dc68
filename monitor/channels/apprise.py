"""The Apprise channel: each alert to any service Apprise speaks (Teams, Discord, Telegram, ntfy ...).

Apprise runs offline and self-contained here: no plugins or configuration are read from the user's
home (no plugin paths, no AppriseConfig), persistent storage stays in memory, `${NAME}` templates are
off, and its own log lines never reach monitor's log (a service's log line can quote a token of the
URL, such as an ntfy topic). A failure is only success or failure to Apprise, so it is RetryLater
until the channel's `max_attempts`; its reason names the service, never the URL.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import apprise
from pydantic import Field, SecretStr, field_validator

from monitor import escaping, scrub
from monitor.channels.base import ChannelOptions
from monitor.errors import Rejected, RetryLater
from monitor.records import Alert, Snippet
from monitor.render import AlertView, ItemView, alert_view

if TYPE_CHECKING:
    from monitor.render import Renderer

TEMPLATES = {"text": "apprise.txt.j2", "markdown": "apprise.md.j2", "html": "apprise.html.j2"}
MAX_URLS = 50
_REMEMBERED = 1024  # alerts whose already-reached URLs are remembered for their retry
_HTTP_STATUS = re.compile(r"\berror=(\d{3})\b")

for _name in ("apprise", "urllib3"):  # their lines can quote a URL's path or a topic: never shown
    logging.getLogger(_name).propagate = False


def _asset(timeout: float) -> apprise.AppriseAsset:
    """Apprise's settings for monitor: memory-only storage, no plugin paths, no templates."""
    return apprise.AppriseAsset(
        plugin_paths=[],
        storage_mode="memory",
        allow_templates=False,
        service_timeout=timeout,
        secure_logging=True,
    )


def _service(url: str, timeout: float) -> Any:
    """Apprise's notifier for one URL, or None when Apprise has no service for it."""
    return apprise.Apprise.instantiate(url, asset=_asset(timeout), suppress_exceptions=True)


def _token_pieces(url: str) -> set[str]:
    """The token-like pieces of an Apprise URL, for the scrubber: besides the path and query it already
    knows, Apprise puts tokens where a URL has its host (a Telegram bot token: `tgram://ID:TOKEN/chat`)."""
    rest = url.partition("://")[2]
    pieces = re.split(r"[/@:?&=,]", rest)
    return {piece for piece in pieces if len(piece) >= scrub.TOKEN_LIKE}


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://" if sep and scheme.isascii() and len(scheme) <= 20 else "(no scheme)"


class AppriseOptions(ChannelOptions):
    """Options of the Apprise channel: one Apprise URL or a list (secrets), the body format, timeout."""

    url: tuple[SecretStr, ...]
    format: Literal["text", "markdown", "html"] | None = None  # None: each service's own format
    min_interval: float = Field(default=0.0, ge=0)  # when not set: the slowest service's own pace
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("url", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str | SecretStr) else value

    @field_validator("url")
    @classmethod
    def _check_urls(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        if not value:
            raise ValueError("url needs at least one Apprise URL")
        if len(value) > MAX_URLS:
            raise ValueError(f"url takes at most {MAX_URLS} Apprise URLs")
        for index, secret in enumerate(value, 1):
            text = secret.get_secret_value().strip()
            if _service(text, 10.0) is None:
                where = f"url {index}" if len(value) > 1 else "url"
                raise ValueError(
                    f"{where} is not a URL Apprise can send to (scheme {_scheme(text)}); "
                    "see https://github.com/caronc/apprise/wiki"
                )
            scrub.remember(_token_pieces(text))
        return value


@dataclass
class _Target:
    """One Apprise URL ready to send: its notifier, its service name (safe to show) and body format."""

    sender: apprise.Apprise
    service: str
    format: str


class AppriseChannel:
    """Sends each alert through Apprise to every URL of the channel, rendered in each service's format."""

    type: ClassVar[str] = "apprise"
    Options = AppriseOptions

    def __init__(self, name: str, options: AppriseOptions, renderer: Renderer) -> None:
        self.name, self.renderer = name, renderer
        self.targets, pace = _targets(options)
        if "min_interval" not in options.model_fields_set:  # Apprise's pacing, applied by the outbox
            options = options.model_copy(update={"min_interval": pace})
        self.options = options
        self._reached: OrderedDict[str, set[int]] = OrderedDict()
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        """Notify every URL not yet reached for this alert; RetryLater naming the services that failed."""
        view = _defused(alert_view(alert))
        title = escaping.clean_line(self.renderer.render("apprise_title.txt.j2", view), 250)
        bodies: dict[str, str] = {}
        failures: list[str] = []
        for index, target in enumerate(self.targets):
            if index in self._already_reached(alert.id):
                continue
            if target.format not in bodies:
                bodies[target.format] = self.renderer.render(TEMPLATES[target.format], view).strip()
            result = target.sender.notify(
                body=bodies[target.format] or title,
                title=title,
                body_format=target.format,
                timeout=self.options.timeout,
            )
            if result:
                self._mark_reached(alert.id, index)
            else:
                failures.append(self._describe(index, target, result))
        if failures:
            raise RetryLater(f"apprise channel {self.name}: " + "; ".join(failures))
        with self._lock:
            self._reached.pop(alert.id, None)

    def _describe(self, index: int, target: _Target, result: Any) -> str:
        """Why one URL failed, from Apprise's result: the service, its position, an HTTP status or timeout."""
        where = f"{target.service}" + (
            f" (url {index + 1} of {len(self.targets)})" if len(self.targets) > 1 else ""
        )
        status = getattr(result, "status", None)
        if status == apprise.AppriseResultStatus.TIMEOUT:
            return f"{where} timed out after {self.options.timeout:g} s"
        messages = [entry.message for entry in result.logs()] if hasattr(result, "logs") else []
        codes = [m.group(1) for text in messages for m in [_HTTP_STATUS.search(text)] if m]
        if codes:
            return f"{where} failed: HTTP {codes[-1]}"
        if any("connection error" in text.lower() for text in messages):
            return f"{where} failed: connection error"
        return f"{where} failed"

    def _already_reached(self, alert_id: str) -> set[int]:
        with self._lock:
            return set(self._reached.get(alert_id, ()))

    def _mark_reached(self, alert_id: str, index: int) -> None:
        with self._lock:
            self._reached.setdefault(alert_id, set()).add(index)
            self._reached.move_to_end(alert_id)
            while len(self._reached) > _REMEMBERED:
                self._reached.popitem(last=False)


def _targets(options: AppriseOptions) -> tuple[list[_Target], float]:
    """A notifier per URL, with Apprise's own throttle turned off; and the slowest service's pace."""
    targets, pace = [], 0.0
    for secret in options.url:
        service = _service(secret.get_secret_value().strip(), options.timeout)
        if service is None:  # validated already; an Apprise upgrade could still drop a service
            raise Rejected("apprise channel: a URL Apprise cannot send to")
        pace = max(pace, float(getattr(service, "request_rate_per_sec", 0.0) or 0.0))
        service.request_rate_per_sec = 0  # the outbox paces sends (min_interval), outside the timeout
        sender = apprise.Apprise(asset=service.asset)
        sender.add(service)
        chosen = options.format or str(service.resolve_format(None).value)
        targets.append(_Target(sender, escaping.clean_line(str(service.service_name), 60), chosen))
    return targets, pace


def _defused(view: AlertView) -> AlertView:
    """The view with every @mention in feed text broken (Apprise's Discord turns @everyone into a ping)."""
    return replace(view, items=tuple(_defused_item(item) for item in view.items))


def _defused_item(item: ItemView) -> ItemView:
    snippet = Snippet(escaping.defuse_mentions(item.snippet.text), item.snippet.spans)
    return replace(
        item,
        title=escaping.defuse_mentions(item.title),
        feed=escaping.defuse_mentions(item.feed),
        matched_terms=tuple(escaping.defuse_mentions(term) for term in item.matched_terms),
        snippet=snippet,
        snippet_text=snippet.text,
    )
