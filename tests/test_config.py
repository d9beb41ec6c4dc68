"""The configuration loader: the sample loads, and every problem is reported at file:line:col."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import Config, check_config, load_config
from monitor.config.durations import format_duration, parse_duration
from monitor.errors import ConfigErrors, QuerySyntaxError
from monitor.query import compile_query

REPO = Path(__file__).resolve().parent.parent
CASES = yaml.safe_load((Path(__file__).parent / "data" / "config" / "errors.yaml").read_text())


def write(root: Path, files: dict[str, str]) -> None:
    """Write `files` (relative path -> text) under root, always with a rules/ folder."""
    (root / "rules").mkdir(exist_ok=True)
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content, encoding="utf-8")


def load(root: Path, files: dict[str, str], env: dict[str, str] | None = None) -> Config:
    """Write the files and load them, with paths relative to root (as the messages show them)."""
    write(root, files)
    return load_config(Path("rules"), Path("alerts/channels.yaml"), env or {})


def errors_of(root: Path, files: dict[str, str], env: dict[str, str] | None = None) -> list[str]:
    """Every error message the loader gives for these files."""
    with pytest.raises(ConfigErrors) as caught:
        load(root, files, env)
    return [str(error) for error in caught.value.errors]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_the_sample_loads_with_no_error_or_warning() -> None:
    config, errors, warnings = check_config(REPO / "rules", REPO / "alerts" / "channels.yaml", {})
    assert errors == [] and warnings == []
    assert config is not None
    sample = config.feeds["sample"]
    assert Path(sample.url) == REPO / "examples" / "feeds" / "sample.xml"
    assert sample.backfill and sample.tags == ("news", "uk") and sample.every == timedelta(minutes=1)
    assert set(config.rules) == {"uk-military-meeting", "peacekeepers", "trial"}
    headlines = config.feeds["sample-headlines"]
    assert headlines.fulltext and headlines.local and not sample.fulltext
    assert config.rules["uk-military-meeting"].feeds == {"sample", "sample-headlines"}
    assert config.rules["uk-military-meeting"].alert == ("console",)
    assert config.rules["trial"].alert == ()  # a dry run
    assert config.rules["peacekeepers"].digest == "0 8 * * *"
    assert set(config.channels) == {"console"}
    assert config.aliases["UK"] == ("UK", "Britain", "British", "United Kingdom")


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_each_problem_is_reported_at_its_place(tmp_path: Path, case: dict[str, Any]) -> None:
    assert errors_of(tmp_path, case["files"], case.get("env")) == case["errors"]


def test_errors_come_in_file_order_and_all_at_once(tmp_path: Path) -> None:
    files = {
        "rules/b.yaml": "rules:\n  - {name: x, match: ukraine, alert: [nowhere]}\n  - {name: y}\n",
        "rules/a.yaml": "feeds:\n  - {name: f, url: 'gopher://x'}\ntimezone: Nowhere/City\n",
        "alerts/channels.yaml": "channels:\n  c: {type: nothing}\n",
    }
    found = errors_of(tmp_path, files)
    assert [message.split(": ")[0] for message in found] == [
        "rules/a.yaml:2:20",
        "rules/a.yaml:3:11",
        "rules/b.yaml:2:39",
        "rules/b.yaml:3:12",
        "alerts/channels.yaml:2:13",
    ]


def query_error_col(query: str) -> int:
    """The column the query language gives for a query that does not parse."""
    with pytest.raises(QuerySyntaxError) as caught:
        compile_query(query)
    return caught.value.col


def test_a_query_error_points_into_a_plain_query(tmp_path: Path) -> None:
    query = "Thursday AND (UK military"
    found = errors_of(tmp_path, {"rules/watch.yaml": f"rules:\n  - name: x\n    match: {query}\n"})
    assert len(found) == 1
    assert found[0].startswith(
        f"rules/watch.yaml:3:{12 + query_error_col(query) - 1}: invalid query in rule 'x': "
    )


def test_a_query_error_in_a_quoted_query_names_the_query_column(tmp_path: Path) -> None:
    query = "Thursday AND (UK military"
    found = errors_of(tmp_path, {"rules/watch.yaml": f"rules:\n  - name: x\n    match: '{query}'\n"})
    col = query_error_col(query)
    assert found[0].startswith(
        f"rules/watch.yaml:3:12: invalid query in rule 'x' at column {col} of the query: "
    )


def test_check_refuses_a_backreference_and_an_overlong_query_naming_the_column(tmp_path: Path) -> None:
    huge = "/" + "(a|b)" * 20_000 + "/"  # 100 KB: the old nested-repetition check took a minute on it
    rules = f"rules:\n  - name: back\n    match: 'peace /(a)\\1/'\n  - name: huge\n    match: '{huge}'\n"
    found = errors_of(tmp_path, {"rules/watch.yaml": rules})
    assert found[0].startswith(
        "rules/watch.yaml:3:12: invalid query in rule 'back' at column 11 of the query: "
    )
    assert "backreferences and lookaround are not supported" in found[0]
    assert found[1].startswith("rules/watch.yaml:5:12: invalid query in rule 'huge' at column 10001")
    assert "at most 10000 characters" in found[1]


def test_examples_that_hold_pass(tmp_path: Path) -> None:
    rules = """
aliases:
  UK: [UK, Britain, British, "United Kingdom"]
rules:
  - name: x
    match: Thursday UK military meeting
    examples:
      match:
        - "Our militaries will meet this Thursday in the UK"
        - {title: "British military chiefs meet", content: "The meeting is on Thursday."}
      no_match: ["UK weather forecast for Thursday", {author: "Thursday UK military meeting"}]
"""
    config = load(tmp_path, {"rules/watch.yaml": rules})
    assert len(config.rules["x"].examples) == 4


def test_aliases_from_one_file_apply_to_rules_of_another(tmp_path: Path) -> None:
    files = {
        "rules/a.yaml": "aliases:\n  UK: [UK, Britain]\n",
        "rules/b.yaml": "rules:\n  - name: x\n    match: UK\n    examples: {match: [Britain votes]}\n",
    }
    assert set(load(tmp_path, files).rules) == {"x"}


def test_feeds_and_rules_merge_across_files_and_tags_expand(tmp_path: Path) -> None:
    files = {
        "rules/feeds.yaml": """
feeds:
  - {name: bbc, url: https://feeds.bbci.co.uk/news/world/rss.xml, tags: [news, uk]}
  - {name: guardian, url: https://www.theguardian.com/world/rss, tags: [news]}
  - {name: blog, url: https://blog.example.org/atom.xml}
""",
        "rules/rules.yaml": """
rules:
  - {name: by-tag, match: ukraine, feeds: [news]}
  - {name: by-tag-and-name, match: ukraine, feeds: [uk, blog]}
  - {name: everywhere, match: ukraine}
""",
    }
    rules = load(tmp_path, files).rules
    assert rules["by-tag"].feeds == {"bbc", "guardian"}
    assert rules["by-tag-and-name"].feeds == {"bbc", "blog"}
    assert rules["everywhere"].feeds == {"bbc", "guardian", "blog"}


def test_feed_urls_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "local.xml").write_text("<rss/>")
    rules = """
feeds:
  - {name: http, url: "https://example.org/rss?x=1"}
  - {name: file-url, url: "file:///srv/feeds/x.xml"}
  - {name: relative, url: ../feeds/local.xml}
  - {name: absolute, url: "%s"}
""" % (tmp_path / "feeds" / "local.xml")
    feeds = load(tmp_path, {"rules/watch.yaml": rules}).feeds
    assert feeds["http"].url == "https://example.org/rss?x=1"
    assert feeds["file-url"].url == "file:///srv/feeds/x.xml"
    assert feeds["relative"].url == str((tmp_path / "feeds" / "local.xml").resolve())
    assert feeds["absolute"].url == feeds["relative"].url
    assert feeds["relative"].where is not None and str(feeds["relative"].where) == "rules/watch.yaml:5:12"


def test_warnings_for_a_fast_interval_and_a_missing_local_file(tmp_path: Path) -> None:
    write(tmp_path, {"rules/watch.yaml": "feeds:\n  - {name: a, url: nothere.xml, every: 30s}\n"})
    config, errors, warnings = check_config(Path("rules"), Path("alerts/channels.yaml"), {})
    assert errors == [] and config is not None
    assert warnings == [
        f"rules/watch.yaml:2:20: warning: feed 'a': no file at {(tmp_path / 'rules' / 'nothere.xml').resolve()}",
        "rules/watch.yaml:2:40: warning: feed 'a' is polled every 30s, under 1m",
    ]
    assert config.warnings == tuple(warnings)
    assert config.feeds["a"].every == timedelta(seconds=30)


def test_check_config_gives_warnings_along_with_errors(tmp_path: Path) -> None:
    write(tmp_path, {"rules/watch.yaml": "feeds:\n  - {name: a, url: https://x.org/, every: 5s, tags: x}\n"})
    config, errors, warnings = check_config(Path("rules"), Path("alerts/channels.yaml"), {})
    assert config is None and len(errors) == 1 and len(warnings) == 1


def test_durations_cron_timezone_and_defaults(tmp_path: Path) -> None:
    rules = """
timezone: Europe/London
lookback: 2d
retention: 90d
feeds:
  - {name: a, url: "https://example.org/rss"}
rules:
  - {name: x, match: ukraine, digest: "30 7 * * mon-fri", lookback: 1h30m}
  - {name: y, match: ukraine}
"""
    config = load(tmp_path, {"rules/watch.yaml": rules})
    assert config.timezone == "Europe/London"
    assert config.retention == timedelta(days=90)
    assert config.feeds["a"].every == timedelta(minutes=10) and not config.feeds["a"].backfill
    assert config.rules["x"].lookback == timedelta(hours=1, minutes=30)
    assert config.rules["y"].lookback == timedelta(days=2) and config.rules["y"].digest is None


def test_defaults_without_settings(tmp_path: Path) -> None:
    config = load(tmp_path, {"rules/watch.yaml": "rules:\n  - {name: y, match: ukraine}\n"})
    assert config.timezone is None and config.retention == timedelta(days=30)
    assert config.rules["y"].lookback == timedelta(hours=24)
    assert config.templates_dir is None


def test_empty_files_and_commented_out_lists_are_fine(tmp_path: Path) -> None:
    files = {"rules/empty.yaml": "", "rules/watch.yaml": "feeds:\n# - {name: a}\nrules:\naliases:\n"}
    config = load(tmp_path, files)
    assert config.feeds == {} and config.rules == {}


@pytest.mark.parametrize(
    "channels", [None, "", "channels:\n", "channels: {}\n", "# everything commented out\n"], ids=repr
)
def test_console_is_the_default_channel(tmp_path: Path, channels: str | None) -> None:
    files = {"rules/watch.yaml": "rules:\n  - {name: x, match: ukraine, alert: [console]}\n"}
    if channels is not None:
        files["alerts/channels.yaml"] = channels
    config = load(tmp_path, files)
    assert set(config.channels) == {"console"} and config.channels["console"].type == "console"


def test_variables_are_substituted(tmp_path: Path) -> None:
    channels = """
channels:
  slack-news: {type: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
  ops-hook: {type: webhook, url: "https://${HOOK_HOST}/in", secret: "${WEBHOOK_SECRET}", max_attempts: 3}
  email-desk: {type: email, to: [desk@example.org], from: monitor@example.org, smtp: "${SMTP_URL}"}
"""
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/xyz",
        "HOOK_HOST": "hooks.example.org",
        "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "SMTP_URL": "smtps://user:pw@mail.example.org:465",
    }
    config = load(tmp_path, {"alerts/channels.yaml": channels}, env)
    hook = config.channels["ops-hook"]
    assert hook.type == "webhook" and hook.options.url.get_secret_value() == "https://hooks.example.org/in"
    assert hook.options.secret.get_secret_value() == env["WEBHOOK_SECRET"] and hook.options.max_attempts == 3
    assert config.channels["slack-news"].options.webhook_url.get_secret_value() == env["SLACK_WEBHOOK_URL"]
    assert str(config.channels["email-desk"].where) == "alerts/channels.yaml:5:3"
    assert env["WEBHOOK_SECRET"] not in repr(config)


def test_a_missing_or_empty_variable_is_named(tmp_path: Path) -> None:
    channels = (
        "channels:\n  s: {type: slack, webhook_url: '${SLACK_URL}'}\n  w: {type: webhook, url: '${W}'}\n"
    )
    assert errors_of(tmp_path, {"alerts/channels.yaml": channels}, {"W": ""}) == [
        "alerts/channels.yaml:2:33: environment variable 'SLACK_URL' is not set (needed by option 'webhook_url' in channel 's'); export it, add SLACK_URL=... to .env in the working folder, or set SLACK_URL_FILE to a file holding it",
        "alerts/channels.yaml:3:27: environment variable 'W' is empty (needed by option 'url' in channel 'w'); export it, add W=... to .env in the working folder, or set W_FILE to a file holding it",
    ]


def test_secrets_never_appear_in_messages(tmp_path: Path) -> None:
    secret = "s3cr3t-token-value"
    channels = f"""
channels:
  s: {{type: slack, webhook_url: "ftp://${{SLACK_URL}}"}}
  w: {{type: webhook, url: "https://example.org/{secret}", secret: "${{W_SECRET}}"}}
  e: {{type: email, to: ["{secret}"], from: "x@example.org", smtp: "gopher://u:{secret}@h"}}
"""
    env = {"SLACK_URL": secret, "W_SECRET": f"not-whsec-{secret}"}
    with pytest.raises(ConfigErrors) as caught:
        load(tmp_path, {"alerts/channels.yaml": channels}, env)
    assert len(caught.value.errors) == 4
    assert secret not in str(caught.value)
    assert all(error.file == "alerts/channels.yaml" for error in caught.value.errors)


def test_dollar_dollar_keeps_a_literal_variable(tmp_path: Path) -> None:
    channels = "channels:\n  w: {type: webhook, url: 'https://example.org/$${NOT_A_VAR}'}\n"
    config = load(tmp_path, {"alerts/channels.yaml": channels})
    assert config.channels["w"].options.url.get_secret_value() == "https://example.org/${NOT_A_VAR}"


def test_templates_dir_is_found_next_to_the_channels_file(tmp_path: Path) -> None:
    (tmp_path / "alerts" / "templates").mkdir(parents=True)
    config = load(tmp_path, {"alerts/channels.yaml": "channels:\n  console: {type: console}\n"})
    assert config.templates_dir == Path("alerts/templates")


def test_a_missing_rules_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load_config(tmp_path / "nothing", tmp_path / "channels.yaml", {})
    assert "rules folder not found" in str(caught.value)


def test_the_fingerprint_changes_with_what_the_rule_does(tmp_path: Path) -> None:
    def fingerprint(rule: str) -> str:
        return load(tmp_path, {"rules/watch.yaml": f"rules:\n  - {rule}\n"}).rules["x"].fingerprint

    base = fingerprint("{name: x, match: ukraine}")
    assert fingerprint("{name: x, match: ukraine, lookback: 2h}") != base  # a wider window runs again
    assert fingerprint("{name: x, match: ukraine, examples: {match: [Ukraine]}}") == base  # matches the same
    assert fingerprint("{name: x, match: russia}") != base
    assert fingerprint("{name: x, match: ukraine, alert: [console]}") != base


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        (" 10M ", timedelta(minutes=10)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m", "5 minutes", "0s", "0h0m", "-1m", "1h-30m", "5x", "1h30"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="30s, 5m, 1h, 1d or 1h30m"):
        parse_duration(text)


def test_durations_format_back() -> None:
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(days=2, seconds=5)) == "2d5s"


SPEC_ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
    "SMTP_URL": "smtp://mail.example.org:587",
    "WEBHOOK_URL": "https://hooks.example.org/monitor",
    "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def test_the_spec_examples_load_as_written(tmp_path: Path) -> None:
    data = Path(__file__).parent / "data" / "config"
    files = {
        "rules/watch.yaml": (data / "spec_rules.yaml").read_text(),
        "alerts/channels.yaml": (data / "spec_channels.yaml").read_text(),
    }
    write(tmp_path, files)
    config, errors, warnings = check_config(Path("rules"), Path("alerts/channels.yaml"), SPEC_ENV)
    assert errors == [] and config is not None
    assert warnings == [
        f"rules/watch.yaml:8:10: warning: feed 'sample': no file at {config.feeds['sample'].url}"
    ]
    assert config.feeds["sample"].url == str(tmp_path / "rules" / "examples" / "feeds" / "sample.xml")
    assert config.rules["uk-military-meeting"].feeds == {"bbc-world"}
    assert config.rules["peacekeepers"].feeds == {"bbc-world", "sample"}
    assert set(config.channels) == {"console", "slack-news", "email-desk", "ops-hook"}
    assert config.timezone == "Europe/London"


def test_each_missing_variable_of_the_spec_channels_is_named(tmp_path: Path) -> None:
    channels = (Path(__file__).parent / "data" / "config" / "spec_channels.yaml").read_text()
    found = errors_of(tmp_path, {"alerts/channels.yaml": channels})
    assert [message.split(": ", 1)[1].split(" (")[0] for message in found] == [
        f"environment variable '{name}' is not set" for name in SPEC_ENV
    ]


KEYS = ["feeds", "rules", "aliases", "timezone", "lookback", "retention", "name", "url", "every", "tags"]
KEYS += ["backfill", "match", "alert", "digest", "examples", "no_match", "title", "channels", "type"]
SCALARS = st.one_of(
    st.sampled_from(["x", "news", "console", "5m", "0 8 * * *", "UTC", "a.xml", "(", '"a b"~2', "${X}"]),
    st.text(max_size=8),
    st.integers(),
    st.booleans(),
    st.none(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)

FEED = st.fixed_dictionaries(
    {"name": SCALARS}, optional={"url": SCALARS, "every": SCALARS, "tags": VALUES, "backfill": SCALARS}
)
RULE = st.fixed_dictionaries(
    {"name": SCALARS},
    optional={k: VALUES for k in ["match", "feeds", "alert", "digest", "lookback", "examples"]},
)
RULES_FILE = st.fixed_dictionaries(
    {}, optional={"feeds": st.lists(FEED, max_size=3), "rules": st.lists(RULE, max_size=3), "aliases": VALUES}
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rules=RULES_FILE | VALUES, channels=VALUES, cut=st.integers(min_value=0, max_value=400))
def test_any_yaml_gives_errors_never_a_crash(tmp_path: Path, rules: Any, channels: Any, cut: int) -> None:
    rules_text = yaml.safe_dump(rules)
    write(tmp_path, {"rules/a.yaml": rules_text, "rules/b.yaml": rules_text[:cut]})
    write(tmp_path, {"alerts/channels.yaml": yaml.safe_dump(channels)})
    config, errors, _ = check_config(Path("rules"), Path("alerts/channels.yaml"), {"X": "y"})
    assert (config is None) == bool(errors)
    for error in errors:
        lines = Path(error.file).read_text().splitlines() if Path(error.file).is_file() else [""]
        assert 1 <= error.line <= len(lines) + 1 and error.col >= 1


def test_enabled_is_declared_on_feeds_and_rules_and_defaults_to_true(tmp_path: Path) -> None:
    rules = (
        "feeds:\n  - {name: a, url: https://example.org/a}\n  - {name: b, url: https://example.org/b, enabled: off}\n"
        "rules:\n  - {name: x, match: ukraine}\n  - {name: y, match: ukraine, enabled: false}\n"
    )
    config = load(tmp_path, {"rules/watch.yaml": rules})
    assert config.feeds["a"].enabled and not config.feeds["b"].enabled
    assert config.rules["x"].enabled and not config.rules["y"].enabled


def test_a_recursive_yaml_alias_in_a_rules_file_is_an_error_not_a_hang(tmp_path: Path) -> None:
    found = errors_of(tmp_path, {"rules/watch.yaml": "aliases: &a\n  UK: [*a]\n"})
    assert any("nested too deeply" in message for message in found)
    assert found[0].startswith("rules/watch.yaml:")
