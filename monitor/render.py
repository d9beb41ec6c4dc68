"""Alert rendering: Jinja2 templates (alerts/templates/ over the built-in ones), snippets and highlights."""

from __future__ import annotations

from pathlib import Path


class Renderer:
    """Renders alerts for each channel from the built-in templates overlaid by the user's."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        self.templates_dir = templates_dir
