"""Read rules/*.yaml into validated feed and rule specs, merging the files; every problem at file:line:col.

Each file is validated against `schema.RulesFile` (its feeds and rules one by one, so one bad entry does
not hide the others); pydantic's errors are worded here, naming the key the way a user reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from yaml.nodes import Node

from monitor.config import files
from monitor.config.schema import SETTINGS, ExampleSpec, ExamplesSpec, FeedSpec, RulesFile, RuleSpec
from monitor.config.validation import Loc, Problem, Shape, locate, plain, problems
from monitor.config.yamlnodes import Report, Source, compose_file, is_null, kind
from monitor.errors import ConfigError

_ENTRIES: dict[str, tuple[str, type[FeedSpec] | type[RuleSpec]]] = {
    "feeds": ("feed", FeedSpec),
    "rules": ("rule", RuleSpec),
}
SpecT = TypeVar("SpecT", bound=BaseModel)


@dataclass
class Entry:
    """A validated feed or rule, with its YAML node (to point at any of its keys) and its file."""

    spec: Any  # FeedSpec or RuleSpec
    node: Node
    src: Source

    @property
    def name(self) -> str:
        return str(self.spec.name)

    def at(self, *loc: int | str) -> Node:
        """The value node of a key of this entry (the entry itself when the key is not written)."""
        return locate(self.node, loc)[1]


@dataclass
class Found:
    """Everything read from the rules files, merged; duplicates already reported."""

    feeds: dict[str, Entry] = field(default_factory=dict)
    rules: dict[str, Entry] = field(default_factory=dict)
    aliases: dict[str, tuple[tuple[str, ...], Source, Node]] = field(default_factory=dict)
    settings: dict[str, tuple[Any, Source, Node]] = field(default_factory=dict)  # value, file, value node
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # every named feed's tags, even a bad one


def rules_files(rules_dir: Path, report: Report) -> list[Path]:
    """The `*.yaml` and `*.yml` files of the rules folder, sorted; a missing folder is an error.

    Special files (a named pipe, a device, a folder, a symlink to nothing) are skipped with a
    warning naming them: reading a pipe would block, and a device could be read for ever.
    """
    if not rules_dir.is_dir():
        report.errors.append(
            ConfigError(str(rules_dir), 1, 1, "rules folder not found (expected a folder of *.yaml files)")
        )
        return []
    found = []
    for path in candidate_files(rules_dir):
        reason = files.skip_reason(path)
        if reason:
            report.warnings.append((str(path), 1, 1, f"skipped: {reason}"))
        else:
            found.append(path)
    if not found:
        report.warnings.append((str(rules_dir), 1, 1, "no rules files (*.yaml) in this folder"))
    return found


def candidate_files(rules_dir: Path) -> list[Path]:
    """Every `*.yaml` and `*.yml` name in the rules folder, sorted (the reload watches these too)."""
    return sorted({*rules_dir.glob("*.yaml"), *rules_dir.glob("*.yml")})


def read_rules_file(path: Path, found: Found, report: Report) -> None:
    """Read one rules file into `found`, reporting every problem of shape and every duplicate."""
    src = Source(str(path), report)
    root = compose_file(path, src)
    if root is None or is_null(root):
        return
    shape = Shape()
    raw = plain(root, shape)
    words = _Words(raw)
    for loc, node, message in shape.problems:
        src.error(node, message.replace("{what}", words.what(loc)))
    lists = {key: raw[key] for key in _ENTRIES if isinstance(raw, dict) and isinstance(raw.get(key), list)}
    top = _validate(src, words, RulesFile, {**raw, **{key: [] for key in lists}} if lists else raw, root, ())
    for key, (entry_kind, model) in _ENTRIES.items():
        into = found.feeds if key == "feeds" else found.rules
        for index, item in enumerate(lists.get(key, [])):
            node = locate(root, (key, index))[1]
            spec = _validate(src, words, model, item, node, (key, index))
            if key == "feeds":
                _declare_tags(item, spec, found)
            if spec is not None:
                _add_entry(Entry(spec, node, src), entry_kind, into)
    if top is not None:
        _add_aliases(src, top, root, found)
        for name in SETTINGS:
            if name in top.model_fields_set:
                _add_setting(src, name, getattr(top, name), locate(root, (name,)), found)


def _validate(
    src: Source, words: _Words, model: type[SpecT], value: Any, node: Node, prefix: Loc
) -> SpecT | None:
    """The model of the value; on errors, report each, then try once more without the bad keys.

    The second try leaves bad keys at their defaults so the checks that need the rest (a rule's
    channels, its query) still run and every problem is reported in one pass.
    """
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        bad = set()
        for problem in problems(exc, node, prefix):
            src.error(*_wording(problem, words))
            if len(problem.loc) > len(prefix):
                bad.add(problem.loc[len(prefix)])
        if not isinstance(value, dict) or not bad:
            return None
    try:
        return model.model_validate({key: item for key, item in value.items() if key not in bad})
    except ValidationError:
        return None


def _wording(problem: Problem, words: _Words) -> tuple[Node, str]:
    """The node and message of one pydantic error."""
    what, ctx = words.what(problem.loc), problem.ctx
    if problem.type == "extra_forbidden":
        container = problem.loc[:-1]
        expected = ", ".join(_model_at(container).model_fields)
        return (
            problem.key,
            f"unknown key '{problem.loc[-1]}' in {words.what(container)} (expected one of: {expected})",
        )
    if problem.type == "missing":
        container, name = problem.loc[:-1], str(problem.loc[-1])
        hint = _model_at(container).model_fields[name].description
        node = locate(problem.value, ("name",))[1]  # the entry's name when it has one, else the entry
        return node, f"missing key '{name}' in {words.what(container)}" + (
            f" (expected {hint})" if hint else ""
        )
    if problem.type == "expected":
        return problem.value, f"expected {ctx['expected']} for {what}, got {kind(problem.value)}{ctx['hint']}"
    if problem.type == "empty":
        return problem.value, f"expected a non-empty string for {what}"
    if problem.type == "invalid":
        return problem.value, str(ctx["message"]).replace("{what}", what)
    if problem.type in ("model_type", "model_attributes_type", "dict_type"):
        return problem.value, f"expected a mapping for {what}, got {kind(problem.value)}"
    return problem.value, f"invalid {what}: {problem.detail}"


def _model_at(loc: Loc) -> type[BaseModel]:
    """The model of the mapping at loc (a place where a key can be unknown or missing)."""
    if not loc:
        return RulesFile
    if len(loc) == 2:
        return _ENTRIES[str(loc[0])][1]
    return ExamplesSpec if len(loc) == 3 else ExampleSpec


class _Words:
    """How messages name a place in the file: "feed 'a'", "'tags' in feed 'a'", "an example of rule 'x'"."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def _entry(self, key: str, index: int) -> str:
        entries = self.raw.get(key) if isinstance(self.raw, dict) else None
        item = entries[index] if isinstance(entries, list) and index < len(entries) else None
        name = item.get("name") if isinstance(item, dict) else None
        entry_kind = _ENTRIES[key][0]
        return f"{entry_kind} '{name}'" if isinstance(name, str) and name.strip() else f"a {entry_kind}"

    def what(self, loc: Loc) -> str:
        if not loc:
            return "the rules file"
        top, rest = str(loc[0]), loc[1:]
        if top in _ENTRIES and rest and isinstance(rest[0], int):
            if rest[1:] == ("name",):
                return f"the name of a {_ENTRIES[top][0]}"
            entry = self._entry(top, rest[0])
            return self._inside(entry, rest[1:])
        if top == "aliases" and rest:
            return f"alias '{rest[0]}'"
        return f"'{top}'"

    @staticmethod
    def _inside(entry: str, rest: Loc) -> str:
        if not rest:
            return entry
        if rest[0] != "examples":
            return f"'{rest[0]}' in {entry}"
        if len(rest) == 1:
            return f"'examples' in {entry}"
        if len(rest) == 2:
            return f"'examples: {rest[1]}' in {entry}"
        example = f"an example of {entry}"
        return example if len(rest) == 3 else f"'{rest[3]}' in {example}"


def _declare_tags(item: Any, spec: BaseModel | None, found: Found) -> None:
    """Remember a feed's name and tags even when it has errors, so rules naming it are not errors too."""
    if isinstance(spec, FeedSpec):
        found.tags.setdefault(spec.name, spec.tags)
        return
    name = item.get("name") if isinstance(item, dict) else None
    tags = item.get("tags") if isinstance(item, dict) else None
    if isinstance(name, str) and name.strip():
        written = tags if isinstance(tags, list) else []
        found.tags.setdefault(name, tuple(tag for tag in written if isinstance(tag, str)))


def _add_entry(entry: Entry, entry_kind: str, into: dict[str, Entry]) -> None:
    """One feed or rule with a unique name."""
    if entry.name in into:
        first = into[entry.name]
        entry.src.error(
            entry.at("name"),
            f"duplicate {entry_kind} name '{entry.name}' (first defined at {first.src.where(first.at('name'))})",
        )
        return
    into[entry.name] = entry


def _add_aliases(src: Source, top: RulesFile, root: Node, found: Found) -> None:
    """`aliases:` word -> alternatives, each word defined in one file only."""
    for word, alternatives in top.aliases.items():
        key = locate(root, ("aliases", word))[0]
        if word in found.aliases:
            _, first_src, first_key = found.aliases[word]
            src.error(key, f"duplicate alias '{word}' (first defined at {first_src.where(first_key)})")
            continue
        found.aliases[word] = (alternatives, src, key)


def _add_setting(src: Source, name: str, value: Any, nodes: tuple[Node, Node, bool], found: Found) -> None:
    """A global setting (timezone, lookback, retention), set in one file only."""
    if name in found.settings:
        _, first_src, first_node = found.settings[name]
        src.error(
            nodes[0], f"'{name}' is already set at {first_src.where(first_node)} (set it in one file only)"
        )
        return
    found.settings[name] = (value, src, nodes[1])
