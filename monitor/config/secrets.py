"""Where `${VAR}` comes from: the process environment, then `.env` in the working folder, then `VAR_FILE`.

The process environment wins over `.env` (as in docker-compose). `VAR_FILE=/run/secrets/x` names a file
holding the value (Docker and systemd secrets); one trailing newline is dropped. Both are read again at
every load, so a running daemon picks up a secret added after it started. The file is read as a
configuration file is (`files.read_bytes`): a named pipe or a device is skipped, never waited on.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

from monitor.config.files import Unreadable, read_bytes

ENV_FILE = ".env"


def environment(folder: Path | None = None) -> dict[str, str]:
    """The variables `${VAR}` reads: `.env` in `folder` (default: the working folder) under os.environ."""
    path = (folder or Path.cwd()) / ENV_FILE
    try:
        text = read_bytes(path).decode("utf-8")
    except (Unreadable, UnicodeDecodeError):  # none, or not a regular UTF-8 file: no variables from it
        text = ""
    merged = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
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
            content = read_bytes(path).decode("utf-8")
        except Unreadable as exc:
            if exc.special:
                raise Missing(f"{file_var} names {path}, which is skipped: {exc.reason}") from None
            raise Missing(f"{file_var} names {path}, which cannot be read ({exc.reason})") from None
        except UnicodeDecodeError:
            raise Missing(f"{file_var} names {path}, which cannot be read (not UTF-8 text)") from None
        content = content[:-1] if content.endswith("\n") else content
        content = content[:-1] if content.endswith("\r") else content
        if not content:
            raise Missing(f"{file_var} names {path}, which is empty")
        return content
    state = "is empty" if name in env else "is not set"
    hint = f"export it, add {name}=... to {ENV_FILE} in the working folder, or set {file_var} to a file holding it"
    raise Missing(f"environment variable '{name}' {state}", hint)
