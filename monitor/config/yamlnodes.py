"""YAML nodes with positions: compose a file, check shapes, report problems at file:line:col."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.config import files, yamlshape
from monitor.errors import ConfigError

STR, NULL, BOOL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: about 5x faster
Fields = dict[str, tuple[Node, Node]]  # key -> (key node, value node)


@dataclass
class Report:
    """Every error and warning found while loading, in the order found."""

    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[tuple[str, int, int, str]] = field(default_factory=list)


@dataclass
class Source:
    """One configuration file being read; errors and warnings land in the shared Report."""

    file: str
    report: Report

    def error(self, node: Node, message: str, col_offset: int = 0) -> None:
        """Record an error at the node's start (plus col_offset columns)."""
        line, col = position(node)
        self.report.errors.append(ConfigError(self.file, line, col + col_offset, message))

    def warn(self, node: Node, message: str) -> None:
        """Record a warning at the node's start."""
        self.report.warnings.append((self.file, *position(node), message))

    def where(self, node: Node) -> str:
        """file:line:col of the node, for messages that point at an earlier definition."""
        line, col = position(node)
        return f"{self.file}:{line}:{col}"


def position(node: Node) -> tuple[int, int]:
    """1-based line and column of the node's first character."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def compose_file(path: Path, src: Source) -> Node | None:
    """Read and compose one YAML file; any problem becomes one error at its file:line:col.

    Only a regular file of at most 10 MB is read (see `files`); nesting and aliases are bounded
    before any node is built (see `yamlshape`); a syntax error is reported where it starts.
    """
    try:
        text = files.read_bytes(path).decode("utf-8")
    except files.Unreadable as exc:
        src.report.errors.append(ConfigError(src.file, 1, 1, f"cannot read the file: {exc.reason}"))
        return None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        src.report.errors.append(ConfigError(src.file, line, 1, "cannot read the file: not UTF-8 text"))
        return None
    try:
        shape = yamlshape.check_events(yaml.parse(text, Loader=_FAST_LOADER))
    except yaml.YAMLError:
        _syntax_error(text, src)  # parse again with the pure-Python parser: clearer messages
        return None
    if shape is not None:
        src.report.errors.append(
            ConfigError(src.file, shape.line, shape.col, f"invalid YAML: {shape.message}")
        )
        return None
    try:
        return yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        _syntax_error(text, src)
        return None


def _syntax_error(text: str, src: Source) -> None:
    """Report the problem of `text` (which libyaml refused) in plain words, where its author must look."""
    try:
        # The pure-Python parser, events first: deep nesting is found before the composer recurses.
        shape = yamlshape.check_events(yaml.parse(text, Loader=yaml.SafeLoader))
        if shape is None:
            yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        shape = yamlshape.explain(exc, text)
    except yaml.YAMLError as exc:
        shape = yamlshape.Problem(1, 1, str(exc))
    if shape is None:
        shape = yamlshape.Problem(1, 1, "the YAML parser refused this file")
    src.report.errors.append(ConfigError(src.file, shape.line, shape.col, f"invalid YAML: {shape.message}"))


def is_plain(node: Node) -> bool:
    """True for an unquoted, non-block scalar (libyaml marks it with style '', PyYAML with None)."""
    return isinstance(node, ScalarNode) and not node.style


def kind(node: Node) -> str:
    """What a node is, in words a user understands."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {NULL: "nothing", BOOL: "true/false", STR: "a string"}.get(node.tag, "a number")


def is_null(node: Node | None) -> bool:
    """True for a missing value or an explicit null (`key:` with nothing after it)."""
    return node is None or (isinstance(node, ScalarNode) and node.tag == NULL)


def mapping(
    src: Source, node: Node, what: str, allowed: Sequence[str] | None = None, required: Sequence[str] = ()
) -> Fields | None:
    """Check a mapping node: string keys, no duplicates, only `allowed` keys, `required` present."""
    if not isinstance(node, MappingNode):
        src.error(node, f"expected a mapping for {what}, got {kind(node)}")
        return None
    fields: Fields = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode) or key.tag == NULL:
            src.error(key, f"expected a name as key in {what}, got {kind(key)}")
        elif key.value in fields:
            first = position(fields[key.value][0])[0]
            src.error(key, f"duplicate key '{key.value}' in {what} (first at line {first})")
        elif allowed is not None and key.value not in allowed:
            src.error(key, f"unknown key '{key.value}' in {what} (expected one of: {', '.join(allowed)})")
        else:
            fields[key.value] = (key, value)
    for name in required:
        if name not in fields:
            src.error(node, f"missing key '{name}' in {what}")
    return fields


def text(src: Source, node: Node, what: str) -> str | None:
    """A non-empty scalar as written (numbers and words alike); anything else is an error."""
    if not isinstance(node, ScalarNode) or node.tag == NULL:
        src.error(node, f"expected a string for {what}, got {kind(node)}")
        return None
    if not node.value.strip():
        src.error(node, f"expected a non-empty string for {what}")
        return None
    return str(node.value)
