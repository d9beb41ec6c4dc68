"""A rule's `examples`: texts it must match and must not match, checked at every load."""

from __future__ import annotations

from collections.abc import Mapping

from yaml.nodes import MappingNode, Node

from monitor.config.yamlnodes import Source, is_null, items, mapping, text
from monitor.query import Query, analyze_item

EXAMPLE_FIELDS = ("title", "summary", "content", "author", "category", "feed", "link")


def check_examples(src: Source, node: Node, what: str, query: Query | None) -> tuple[str, ...]:
    """`examples: {match: [...], no_match: [...]}`: each must (or must not) match the rule's query."""
    if is_null(node):
        return ()
    checked = []
    fields = mapping(src, node, f"'examples' in {what}", ("match", "no_match"))
    for key, (_, value) in (fields or {}).items():
        for example in items(src, value, f"'examples: {key}' in {what}") or []:
            item = _example_fields(src, example, what)
            if item is None or query is None:
                continue
            matched = query.evaluate(analyze_item(item)) is not None
            quoted = _quote(item)
            checked.append(f"{key}: {quoted}")
            if key == "match" and not matched:
                src.error(example, f"example does not match {what}: {quoted}")
            elif key == "no_match" and matched:
                src.error(example, f"example matches {what} but is listed under no_match: {quoted}")
    return tuple(checked)


def _example_fields(src: Source, node: Node, what: str) -> dict[str, str] | None:
    """An example: a string (title, summary and content alike) or a mapping of item fields."""
    item = dict.fromkeys(EXAMPLE_FIELDS, "")
    if not isinstance(node, MappingNode):
        value = text(src, node, f"an example of {what}")
        if value is None:
            return None
        return {**item, "title": value, "summary": value, "content": value}
    errors_before = len(src.report.errors)
    fields = mapping(src, node, f"an example of {what}", EXAMPLE_FIELDS)
    if fields is None or len(src.report.errors) > errors_before:
        return None
    for name, (_, value_node) in fields.items():
        value = text(src, value_node, f"'{name}' in an example of {what}")
        if value is None:
            return None
        item[name] = value
    return item


def _quote(item: Mapping[str, str]) -> str:
    """The example's text, shortened, in double quotes."""
    shown = item["title"] or next((value for value in item.values() if value), "")
    return '"' + (shown if len(shown) <= 80 else shown[:77] + "...") + '"'
