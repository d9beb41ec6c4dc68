"""A rule's `examples`: texts it must match and must not match, checked at every load."""

from __future__ import annotations

from yaml.nodes import Node

from monitor.config.schema import ExampleSpec, ExamplesSpec
from monitor.config.validation import locate
from monitor.config.yamlnodes import Source
from monitor.query import Query, analyze_item


def check_examples(
    src: Source, node: Node, what: str, examples: ExamplesSpec, query: Query
) -> tuple[str, ...]:
    """Each example under `match` must match the rule's query, each under `no_match` must not.

    `node` is the `examples:` mapping (each error points at its example); returns `match: "text"` lines.
    """
    checked = []
    for key in ExamplesSpec.model_fields:
        for index, example in enumerate(getattr(examples, key)):
            matched = query.evaluate(analyze_item(example.model_dump())) is not None
            quoted = _quote(example)
            checked.append(f"{key}: {quoted}")
            at = locate(node, (key, index))[1]
            if key == "match" and not matched:
                src.error(at, f"example does not match {what}: {quoted}")
            elif key == "no_match" and matched:
                src.error(at, f"example matches {what} but is listed under no_match: {quoted}")
    return tuple(checked)


def _quote(example: ExampleSpec) -> str:
    """The example's text, shortened, in double quotes."""
    values = example.model_dump()
    shown = values["title"] or next((value for value in values.values() if value), "")
    return '"' + (shown if len(shown) <= 80 else shown[:77] + "...") + '"'
