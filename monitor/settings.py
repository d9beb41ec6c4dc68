"""Settings from environment variables (MONITOR_*), a `.env` file, and CLI options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the database, rules and channels are, where /healthz and /metrics listen, how to log."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", env_file=".env", extra="ignore")

    db: str = "sqlite:///data/monitor.db"
    rules: Path = Path("rules")
    channels: Path = Path("alerts/channels.yaml")
    http: str = "127.0.0.1:8080"  # host:port for /healthz and /metrics; "" or "off" disables
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    article_per_host: int = Field(
        default=4, ge=1, le=64
    )  # article pages of `fulltext` feeds in flight per host

    @field_validator("http")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value in ("", "off"):
            return value
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"expected host:port (like 127.0.0.1:8080) or 'off', got {value!r}")
        return value

    @property
    def http_address(self) -> tuple[str, int] | None:
        if self.http in ("", "off"):
            return None
        host, _, port = self.http.rpartition(":")
        return host or "127.0.0.1", int(port)
