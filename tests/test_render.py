"""Rendering: cleaning and escaping of feed text, highlights, user templates and their checking."""

from __future__ import annotations

from pathlib import Path

import pytest
from alertdata import alert, hostile, item

from monitor.errors import Rejected
from monitor.escaping import (
    clean_line,
    clean_snippet,
    highlight_html,
    highlight_mrkdwn,
    highlight_text,
    mrkdwn,
    mrkdwn_link,
    safe_link,
)
from monitor.records import Alert, Snippet
from monitor.render import TEMPLATES, Renderer, check_templates

SNIPPET = Snippet("the <UK> & military", ((5, 7), (11, 19)))


def test_highlight_per_format() -> None:
    """Matched terms are marked in each format and everything else is escaped for it."""
    assert highlight_text(SNIPPET) == "the <«UK»> & «military»"
    assert str(highlight_html(SNIPPET)) == "the &lt;<mark>UK</mark>&gt; &amp; <mark>military</mark>"
    assert highlight_mrkdwn(SNIPPET) == "the &lt;\u200b*UK*\u200b&gt; &amp; \u200b*military*\u200b"


def test_overlapping_and_out_of_range_spans_are_merged_and_clipped() -> None:
    """Spans from the matcher are sorted, merged and clipped, never crashing the render."""
    assert highlight_text(Snippet("abcdef", ((4, 99), (0, 2), (1, 3), (-5, 0)))) == "«abc»d«ef»"


def test_clean_snippet_strips_controls_and_keeps_spans() -> None:
    """ANSI escapes, control characters and newlines go; spans still cover the matched words."""
    cleaned = clean_snippet(Snippet("\x1b[31mUK\x1b[0m\n\n military\x07 now", ((5, 7), (14, 22))))
    assert cleaned.text == "UK military now"
    assert highlight_text(cleaned) == "«UK» «military» now"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a?b=1", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT:alert(1)", False),
        ("data:text/html,<script>", False),
        ("file:///etc/passwd", False),
        ("https://exa mple.org/", False),
        ("https://example.org/\nBcc: x", False),
        ("//example.org/x", False),
        ("", False),
        (None, False),
    ],
)
def test_only_http_links_survive(url: str | None, safe: bool) -> None:
    """Only absolute http(s) URLs are kept as links."""
    assert (safe_link(url) is not None) is safe


def test_mrkdwn_neutralises_pings_links_and_formatting() -> None:
    """Slack control sequences in feed text come out inert."""
    text = mrkdwn("<!channel> <@U123> <https://evil|x> @here *bold* _it_ ~s~ `code` a&b")
    assert "<" not in text and ">" not in text
    assert "@here" not in text and "@\u200dhere" in text
    assert not any(mark in text for mark in "*_~`")
    assert "a&amp;b" in text


def test_mrkdwn_link_escapes_the_url() -> None:
    """A pipe or > in the URL cannot end the link early; a javascript: link is only text."""
    assert mrkdwn_link("https://x.org/?q=a|b>c", "T") == "<https://x.org/?q=a%7Cb%3Ec|T>"
    assert mrkdwn_link("javascript:alert(1)", "T") == "T"


def test_clean_line_is_one_capped_line() -> None:
    """A one-line field loses newlines and control characters and is capped with an ellipsis."""
    assert clean_line("a\r\nBcc: x\x00\x1b[2J", 100) == "a Bcc: x"
    assert clean_line("x" * 50, 10) == "x" * 9 + "…"


def test_builtin_templates_render_every_field() -> None:
    """The console text names rule, title, link, feed, published, terms and the highlighted snippet."""
    text = Renderer(None).console(alert())
    for part in (
        "uk-military",
        "UK military meeting 1",
        "https://news.example.org/story/1?a=1&b=2",
        "world-news",
    ):
        assert part in text
    assert "2026-11-25 03:00:00 UTC" in text and "UK, military" in text and "«UK» «military»" in text


def test_html_template_escapes_feed_text() -> None:
    """Feed markup is text in the HTML email; a javascript: link becomes no link at all."""
    html = Renderer(None).render("email.html.j2", hostile())
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html
    assert "&lt;!channel&gt;" in html


def test_user_template_overrides_builtin(tmp_path: Path) -> None:
    """A file in alerts/templates/ with a built-in's name replaces it; the others stay built-in."""
    (tmp_path / "console.txt.j2").write_text("{{ rule }} -> {{ item.title|upper }}\n")
    renderer = Renderer(tmp_path)
    assert renderer.console(alert()) == "uk-military -> UK MILITARY MEETING 1\n"
    assert "<mark>" in renderer.render("email.html.j2", alert())


def test_user_mrkdwn_template_is_still_escaped(tmp_path: Path) -> None:
    """Even a user template cannot let feed text ping in Slack: every value is escaped on output."""
    (tmp_path / "slack_item.mrkdwn.j2").write_text("{{ item.title }} {{ item.title ~ '!' }}")
    text = Renderer(tmp_path).render("slack_item.mrkdwn.j2", hostile())
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


def test_check_templates_reports_file_and_line(tmp_path: Path) -> None:
    """Syntax errors, undefined names and unknown file names are ConfigErrors at file:line."""
    (tmp_path / "email.txt.j2").write_text("ok\n{% for x in items %}\n{{ x.title }\n")
    (tmp_path / "console.txt.j2").write_text("line one\n\n{{ item.no_such_field }}\n")
    (tmp_path / "slak_item.mrkdwn.j2").write_text("typo in the name\n")
    errors = {Path(e.file).name: e for e in check_templates(tmp_path)}
    assert set(errors) == {"email.txt.j2", "console.txt.j2", "slak_item.mrkdwn.j2"}
    assert errors["email.txt.j2"].line == 3
    assert errors["console.txt.j2"].line == 3 and "no_such_field" in errors["console.txt.j2"].message
    assert "unknown template name" in errors["slak_item.mrkdwn.j2"].message


def test_check_templates_accepts_good_overrides(tmp_path: Path) -> None:
    """Copies of the built-in templates and partials (`_name.j2`) check clean; no directory is fine."""
    builtin = Path(__file__).parent.parent / "monitor" / "templates"
    for name in TEMPLATES:
        (tmp_path / name).write_text((builtin / name).read_text())
    (tmp_path / "_footer.j2").write_text("{% macro footer() %}bye{% endmacro %}")
    assert check_templates(tmp_path) == []
    assert check_templates(None) == []
    assert check_templates(tmp_path / "missing") == []


def test_sandbox_blocks_python_internals(tmp_path: Path) -> None:
    """A template cannot reach Python internals; the failure is Rejected naming the template line."""
    (tmp_path / "console.txt.j2").write_text("x\n{{ item.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(Rejected, match=r"console\.txt\.j2:2"):
        Renderer(tmp_path).console(alert())
    assert check_templates(tmp_path)[0].line == 2


def test_digest_lists_every_item() -> None:
    """A digest's email text lists each item."""
    text = Renderer(None).render("email.txt.j2", alert(item(1), item(2), item(3)))
    assert all(f"UK military meeting {n}" in text for n in (1, 2, 3))


def test_alert_without_items_renders_everywhere() -> None:
    """A test alert with no items still renders every built-in template."""
    empty = Alert(id="t-1", rule="smoke", items=(), kind="test")
    renderer = Renderer(None)
    for name in TEMPLATES:
        if name != "slack_item.mrkdwn.j2":
            assert renderer.render(name, empty, prefix="[monitor]").strip()
    assert (
        renderer.render("email_subject.txt.j2", empty, prefix="[m]").strip()
        == "[m] Test alert: smoke: test alert"
    )


def test_documented_example_template_works(tmp_path: Path) -> None:
    """The example template in docs/templates.md checks clean and renders a highlighted snippet."""
    doc = (Path(__file__).parent.parent / "docs" / "templates.md").read_text()
    example = doc.split("```jinja\n", 1)[1].split("```", 1)[0]
    (tmp_path / "slack_item.mrkdwn.j2").write_text(example)
    assert check_templates(tmp_path) == []
    assert "\u200b*UK*\u200b" in Renderer(tmp_path).render("slack_item.mrkdwn.j2", alert())


def test_runtime_error_in_template_is_located(tmp_path: Path) -> None:
    """A template that divides by zero is reported at its line by check, and is Rejected at send time."""
    (tmp_path / "email.txt.j2").write_text("a\nb\n{{ 1 / 0 }}\n")
    (error,) = check_templates(tmp_path)
    assert (error.line, Path(error.file).name) == (3, "email.txt.j2") and "ZeroDivisionError" in error.message
    with pytest.raises(Rejected, match=r"email\.txt\.j2:3"):
        Renderer(tmp_path).render("email.txt.j2", alert())
