"""Where `${VAR}` comes from: the process environment, then `.env` in the working folder, then `VAR_FILE`.

The process environment wins over `.env` (as in docker-compose). `VAR_FILE=/run/secrets/x` names a file
holding the value (Docker and systemd secrets); one trailing newline is dropped. Both are read again at
every load, so a running daemon picks up a secret added after it started.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

ENV_FILE = ".env"


def environment(folder: Path | None = None) -> dict[str, str]:
    """The variables `${VAR}` reads: `.env` in `folder` (default: the working folder) under os.environ."""
    path = (folder or Path.cwd()) / ENV_FILE
    merged: dict[str, str] = {}
    if path.is_file():
        try:
            merged = {k: v for k, v in dotenv_values(path).items() if v is not None}
        except (OSError, UnicodeDecodeError):
            merged = {}
    merged.update(os.environ)
    return merged


class Missing(Exception):
    """A variable with no usable value: what is wrong, and how to provide it (never a value)."""

    def __init__(self, problem: str, hint: str = "") -> None:
        super().__init__(problem)
        self.problem, self.hint = problem, hint


def lookup(name: str, env: Mapping[str, str]) -> str:
    """The value of `${name}`: the variable itself, else the contents of the file `name_FILE` names."""
    value = env.get(name, "")
    if value:
        return value
    file_var = f"{name}_FILE"
    if env.get(file_var):
        path = Path(env[file_var])
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise Missing(f"{file_var} names {path}, which cannot be read ({reason})") from None
        content = content[:-1] if content.endswith("\n") else content
        content = content[:-1] if content.endswith("\r") else content
        if not content:
            raise Missing(f"{file_var} names {path}, which is empty")
        return content
    state = "is empty" if name in env else "is not set"
    hint = f"export it, add {name}=... to {ENV_FILE} in the working folder, or set {file_var} to a file holding it"
    raise Missing(f"environment variable '{name}' {state}", hint)
