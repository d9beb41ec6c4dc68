"""`monitor init`: write the sample configuration shipped inside the package, never overwriting a file."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

SAMPLE = (
    "rules/watch.yaml",
    "alerts/channels.yaml",
    "alerts/templates/README.md",
    "examples/feeds/sample.xml",
    "examples/feeds/summaries.xml",
    "examples/articles/uk-coalition-of-the-willing.html",
    "examples/articles/bank-rates.html",
    "examples/articles/labour-feud.html",
)


def write_sample(directory: Path) -> Iterator[tuple[Path, bool]]:
    """Yield (path, written) for each sample file; an existing file is kept as it is."""
    root: Traversable = files("monitor") / "sample"
    for name in SAMPLE:
        source = root.joinpath(*name.split("/"))
        if not source.is_file():
            continue
        target = directory / name
        if target.exists():
            yield target, False
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        yield target, True
