"""Read rules/*.yaml into named feed and rule entries (still YAML nodes), merging the files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from monitor.config.yamlnodes import (
    Fields,
    Report,
    Source,
    compose_file,
    is_null,
    items,
    mapping,
    text,
    text_list,
)
from monitor.errors import ConfigError

TOP_KEYS = ("feeds", "rules", "aliases", "timezone", "lookback", "retention")
FEED_KEYS = ("name", "url", "every", "tags", "backfill", "fulltext")
RULE_KEYS = ("name", "match", "feeds", "alert", "digest", "lookback", "examples")
SETTINGS = ("timezone", "lookback", "retention")


@dataclass
class Entry:
    """A feed or a rule as written: its name, its fields' nodes, and the file it came from."""

    name: str
    name_node: Node
    fields: Fields
    src: Source


@dataclass
class Found:
    """Everything read from the rules files, merged; duplicates already reported."""

    feeds: dict[str, Entry] = field(default_factory=dict)
    rules: dict[str, Entry] = field(default_factory=dict)
    aliases: dict[str, tuple[tuple[str, ...], Source, Node]] = field(default_factory=dict)
    settings: dict[str, tuple[Source, Node]] = field(default_factory=dict)


def rules_files(rules_dir: Path, report: Report) -> list[Path]:
    """The `*.yaml` files of the rules folder, sorted; a missing folder is an error."""
    if not rules_dir.is_dir():
        report.errors.append(
            ConfigError(str(rules_dir), 1, 1, "rules folder not found (expected a folder of *.yaml files)")
        )
        return []
    found = sorted(rules_dir.glob("*.yaml"))
    for ignored in sorted(rules_dir.glob("*.yml")):
        report.warnings.append((str(ignored), 1, 1, "ignored: rules files must end in .yaml"))
    if not found:
        report.warnings.append((str(rules_dir), 1, 1, "no rules files (*.yaml) in this folder"))
    return found


def read_rules_file(path: Path, found: Found, report: Report) -> None:
    """Read one rules file into `found`, reporting every problem of shape and every duplicate."""
    src = Source(str(path), report)
    root = compose_file(path, src)
    if root is None or is_null(root):
        return
    top = mapping(src, root, "the rules file", TOP_KEYS)
    if top is None:
        return
    for kind, keys, into in (("feed", FEED_KEYS, found.feeds), ("rule", RULE_KEYS, found.rules)):
        if kind + "s" in top:
            for node in items(src, top[kind + "s"][1], f"'{kind}s'") or []:
                _add_entry(src, node, kind, keys, into)
    if "aliases" in top:
        _add_aliases(src, top["aliases"][1], found)
    for name in SETTINGS:
        if name in top:
            _add_setting(src, name, top[name], found)


def _add_entry(src: Source, node: Node, kind: str, keys: tuple[str, ...], into: dict[str, Entry]) -> None:
    """One feed or rule: a mapping with a unique name."""
    peeked = _peek_name(node)
    fields = mapping(src, node, f"{kind} '{peeked}'" if peeked else f"a {kind}", keys, required=("name",))
    if fields is None or "name" not in fields:
        return
    name_node = fields["name"][1]
    name = text(src, name_node, f"the name of a {kind}")
    if name is None:
        return
    if name in into:
        first = into[name]
        src.error(
            name_node, f"duplicate {kind} name '{name}' (first defined at {first.src.where(first.name_node)})"
        )
        return
    into[name] = Entry(name, name_node, fields, src)


def _peek_name(node: Node) -> str | None:
    """The `name:` of a mapping node, if it has a plain one (used to word messages)."""
    if not isinstance(node, MappingNode):
        return None
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.value == "name" and isinstance(value, ScalarNode):
            return str(value.value) or None
    return None


def _add_aliases(src: Source, node: Node, found: Found) -> None:
    """`aliases:` word -> list of alternatives."""
    if is_null(node):
        return
    words = mapping(src, node, "'aliases'")
    for word, (key, value) in (words or {}).items():
        alternatives = text_list(src, value, f"alias '{word}'")
        if alternatives is None:
            continue
        if word in found.aliases:
            _, first_src, first_key = found.aliases[word]
            src.error(key, f"duplicate alias '{word}' (first defined at {first_src.where(first_key)})")
            continue
        found.aliases[word] = (tuple(alt for alt, _ in alternatives), src, key)


def _add_setting(src: Source, name: str, nodes: tuple[Node, Node], found: Found) -> None:
    """A global setting (timezone, lookback, retention), set in one file only."""
    if name in found.settings:
        first_src, first_node = found.settings[name]
        src.error(
            nodes[0], f"'{name}' is already set at {first_src.where(first_node)} (set it in one file only)"
        )
        return
    found.settings[name] = (src, nodes[1])
