"""Read alerts/channels.yaml: each channel's type and Options, with `${VAR}` read from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.channels import available_types, channel_class
from monitor.channels.base import ChannelOptions
from monitor.config.secrets import Missing, lookup
from monitor.config.validation import MAX_DEPTH, locate, problems
from monitor.config.yamlnodes import STR, Report, Source, compose_file, is_null, mapping, position, text

_VAR = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")


class LoadedChannel(NamedTuple):
    """A validated channel as found in the file."""

    type: str
    options: BaseModel
    line: int
    col: int
    secrets: tuple[str, ...] = ()  # the `${VAR}` values substituted into its options
    enabled: bool = True  # `enabled: false`: kept and checked, but no alert is routed to it


def default_channels() -> dict[str, LoadedChannel | None]:
    """What runs when no channel is configured: the console."""
    return {"console": LoadedChannel("console", options_model("console")(), 0, 0)}


def options_model(type_name: str) -> type[ChannelOptions]:
    """The Options model of a channel type; KeyError if no channel has that type."""
    model: type[ChannelOptions] = channel_class(type_name).Options  # type: ignore[attr-defined]  # every channel class has one
    return model


def load_channels(
    path: Path, env: Mapping[str, str], report: Report
) -> dict[str, LoadedChannel | None] | None:
    """Every channel by name (None: a channel with errors); None when the file cannot be read as channels."""
    if not path.exists():
        return default_channels()
    src, errors_before = Source(str(path), report), len(report.errors)
    root = compose_file(path, src)
    if len(report.errors) > errors_before:
        return None
    if root is None or is_null(root):
        return default_channels()
    top = mapping(src, root, "the channels file", ("channels",))
    if top is None:
        return None
    if "channels" not in top or is_null(top["channels"][1]):
        return default_channels()
    named = mapping(src, top["channels"][1], "'channels'")
    if named is None:
        return None
    if not named:
        return default_channels()
    return {name: _channel(src, name, key, value, env) for name, (key, value) in named.items()}


def _channel(src: Source, name: str, key: Node, node: Node, env: Mapping[str, str]) -> LoadedChannel | None:
    """One channel: look its type up, substitute variables, validate its Options."""
    what = f"channel '{name}'"
    fields = mapping(src, node, what, required=("type",))
    if fields is None or "type" not in fields:
        return None
    type_name = text(src, fields["type"][1], f"'type' in {what}")
    if type_name is None:
        return None
    try:
        model = options_model(type_name)
    except KeyError:
        expected = ", ".join(available_types())
        src.error(
            fields["type"][1], f"unknown channel type '{type_name}' in {what} (expected one of: {expected})"
        )
        return None
    secrets: list[str] = []
    errors_before = len(src.report.errors)
    enabled = _enabled(src, fields, what)
    raw = {
        k: _value(src, v, env, secrets, f"option '{k}' in {what}")
        for k, (_, v) in fields.items()
        if k not in ("type", "enabled")
    }
    if len(src.report.errors) > errors_before:
        return None
    try:
        options = model.model_validate(raw)
    except ValidationError as exc:
        _report_validation(src, exc, key, node, what, model, secrets + _strings(list(raw.values())))
        return None
    return LoadedChannel(type_name, options, *position(key), tuple(secrets), enabled=enabled)


def _enabled(src: Source, fields: Mapping[str, tuple[Node, Node]], what: str) -> bool:
    """`enabled:` (default true), a key of every channel whatever its type."""
    if "enabled" not in fields:
        return True
    node = fields["enabled"][1]
    value = _scalar(src, node, f"'enabled' in {what}") if isinstance(node, ScalarNode) else None
    if not isinstance(value, bool):
        src.error(node, f"'enabled' in {what} must be true or false")
        return True
    return value


def _value(
    src: Source, node: Node, env: Mapping[str, str], secrets: list[str], what: str, depth: int = 0
) -> Any:
    """The plain Python value of a node, with `${VAR}` replaced in every string."""
    if depth > MAX_DEPTH and isinstance(node, MappingNode | SequenceNode):
        src.error(node, f"{what} is nested too deeply (more than {MAX_DEPTH} levels; a recursive alias?)")
        return None
    if isinstance(node, MappingNode):
        fields = mapping(src, node, what) or {}
        return {k: _value(src, v, env, secrets, what, depth + 1) for k, (_, v) in fields.items()}
    if isinstance(node, SequenceNode):
        return [_value(src, item, env, secrets, what, depth + 1) for item in node.value]
    assert isinstance(node, ScalarNode)
    if node.tag != STR:
        return _scalar(src, node, what)
    return _substitute(src, node, env, secrets, what)


def _scalar(src: Source, node: ScalarNode, what: str) -> Any:
    """A non-string scalar (number, bool, null) as YAML means it; an unknown YAML tag is an error."""
    try:
        return SafeConstructor().construct_object(node)
    except yaml.YAMLError:
        src.error(node, f"unsupported YAML tag {node.tag} for {what} (expected a plain value)")
        return None


def _substitute(src: Source, node: ScalarNode, env: Mapping[str, str], secrets: list[str], what: str) -> str:
    """Replace each `${VAR}` (environment, `.env`, `VAR_FILE`; `$${VAR}` stays literal); report missing ones."""

    def replace(found: re.Match[str]) -> str:
        if found.group(1):
            return found.group(0)[1:]
        name = found.group(2)
        try:
            value = lookup(name, env)
        except Missing as exc:
            src.error(node, f"{exc.problem} (needed by {what})" + (f"; {exc.hint}" if exc.hint else ""))
            return ""
        secrets.append(value)
        return value

    return _VAR.sub(replace, node.value)


def _strings(value: Any) -> list[str]:
    """Every string inside an option value (to keep them all out of messages: any may be a secret)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _strings(list(value.values()))
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _report_validation(
    src: Source,
    exc: ValidationError,
    key: Node,
    node: Node,
    what: str,
    model: type[ChannelOptions],
    secrets: list[str],
) -> None:
    """Map pydantic's errors to the offending option's file:line:col, with no option values in them."""
    for problem in problems(exc, node):
        option = str(problem.loc[0]) if problem.loc else ""
        at = problem.key if problem.loc and locate(node, problem.loc[:1])[2] else key
        if problem.type == "missing":
            message = f"missing option '{option}' in {what}"
        elif problem.type == "extra_forbidden":
            expected = ", ".join(_option_names(model))
            message = f"unknown option '{option}' in {what} (expected one of: {expected})"
        else:
            message = f"option '{option}' in {what}: {_redact(problem.detail, secrets)}"
        src.error(at, message)


def _option_names(model: type[ChannelOptions]) -> list[str]:
    """The option names a channel class accepts, as written in the file."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _redact(message: str, secrets: list[str]) -> str:
    """Replace any secret value that slipped into a message."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            message = message.replace(secret, "***")
    return message
