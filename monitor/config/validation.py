"""From YAML nodes to pydantic and back: plain values to validate, and each error at its node.

Both configuration files validate with pydantic models (`extra="forbid"`); this module turns a composed
YAML tree into the plain values those models read, and turns pydantic's errors (a `loc` path into those
values) back into the node each is about, so every message can name `file:line:col`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from monitor.config.yamlnodes import BOOL, NULL, kind, position

MAX_DEPTH = 10  # deeper than any configuration needs: a recursive YAML alias
MAX_NODES = 1_000_000  # YAML aliases can make a small file expand without end
Loc = tuple[int | str, ...]


class YamlBool(str):
    """A YAML true/false scalar, kept as written: a name may be `yes`, a flag must be a boolean."""

    def __bool__(self) -> bool:
        return self.lower() in ("true", "yes", "on", "y")


@dataclass
class Shape:
    """Problems found while reading nodes as plain values: (loc of the mapping, node, message with {what})."""

    problems: list[tuple[Loc, Node, str]] = field(default_factory=list)
    budget: int = MAX_NODES


def plain(node: Node, shape: Shape, loc: Loc = ()) -> Any:
    """The node as plain values: mappings, lists, str as written, YamlBool, None.

    Keys that are not names and duplicate keys are recorded in `shape` and left out (the first stays).
    """
    shape.budget -= 1
    if isinstance(node, MappingNode | SequenceNode) and (len(loc) > MAX_DEPTH or shape.budget < 0):
        why = f"more than {MAX_DEPTH} levels, or too many YAML aliases; a recursive alias?"
        shape.problems.append((loc, node, f"{{what}} is nested too deeply ({why})"))
        return None
    if isinstance(node, SequenceNode):
        return [plain(item, shape, (*loc, index)) for index, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        values: dict[str, Any] = {}
        keys: dict[str, Node] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == NULL:
                shape.problems.append((loc, key, f"expected a name as key in {{what}}, got {kind(key)}"))
            elif key.value in keys:
                first = position(keys[key.value])[0]
                shape.problems.append(
                    (loc, key, f"duplicate key '{key.value}' in {{what}} (first at line {first})")
                )
            else:
                keys[key.value] = key
                values[key.value] = plain(value, shape, (*loc, key.value))
        return values
    assert isinstance(node, ScalarNode)
    if node.tag == NULL:
        return None
    return YamlBool(node.value) if node.tag == BOOL else str(node.value)


def locate(node: Node, loc: Sequence[Any]) -> tuple[Node, Node, bool]:
    """(key node, value node, found) deepest along a pydantic `loc`: an item of a list, a key of a mapping.

    For a list item both nodes are the item; `found` is False when the path stops early (a missing key).
    """
    key = value = node
    for step in loc:
        if isinstance(value, SequenceNode) and isinstance(step, int) and step < len(value.value):
            key = value = value.value[step]
        elif isinstance(value, MappingNode):
            pairs = [(k, v) for k, v in value.value if isinstance(k, ScalarNode) and k.value == str(step)]
            if not pairs:
                return key, value, False
            key, value = pairs[0]
        else:
            return key, value, False
    return key, value, True


@dataclass(frozen=True)
class Problem:
    """One pydantic error with the nodes it is about."""

    loc: Loc
    type: str
    detail: str  # pydantic's message, without its "Value error, " prefix
    ctx: dict[str, Any]
    key: Node
    value: Node
    found: bool


def problems(exc: ValidationError, node: Node, prefix: Loc = ()) -> Iterator[Problem]:
    """Each error of a validation, located under `node` (whose own loc is `prefix`), no input values shown."""
    for error in exc.errors(include_input=False, include_url=False):
        loc = (*prefix, *error["loc"])
        key, value, found = locate(node, error["loc"])
        detail = str(error["msg"]).removeprefix("Value error, ")
        yield Problem(loc, error["type"], detail, dict(error.get("ctx") or {}), key, value, found)
