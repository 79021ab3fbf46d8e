"""The edge's settings: one typed object, read from the environment and flags.

Each field names its environment variable; ``serve`` offers every one as a flag
too (``REALTIME_TOPIC_LIMIT`` is ``--topic-limit``). A bad value stops start-up
with :class:`SettingsError`, whose message names the variable.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_VARIABLE = "variable"
_PARSE = "parse"
_SECRET = "secret"
_HELP = "help"


class SettingsError(ValueError):
    """An invalid setting; ``str()`` is the one line shown to the operator."""


def _setting(
    variable: str,
    default: Any,
    parse: Callable[[str], Any],
    help: str,
    secret: bool = False,
) -> Any:
    return dataclasses.field(
        default=default,
        repr=not secret,
        metadata={_VARIABLE: variable, _PARSE: parse, _HELP: help, _SECRET: secret},
    )


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 0 or 1")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be a port number (0 to 65535)")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _list(text: str) -> tuple[str, ...] | None:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    return items or None


def _text(text: str) -> str | None:
    return text or None


def _file(text: str) -> Path | None:
    if not text:
        return None
    path = Path(text)
    if not path.is_file():
        raise ValueError(f"no such file: {text}")
    return path


def _prefix(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", text):
        raise ValueError("must be dot-separated subject tokens")
    return text


def _replicas(text: str) -> int:
    value = int(text)
    if value not in (1, 2, 3, 4, 5):
        raise ValueError("must be 1 to 5")
    return value


def _level(text: str) -> str:
    value = text.upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    enabled: bool = _setting(
        "REALTIME_ENABLED", True, _flag, "0 turns the WebSocket endpoint off"
    )
    console: bool = _setting(
        "REALTIME_CONSOLE", True, _flag, "0 turns the console page at / off"
    )
    topic_limit: int = _setting(
        "REALTIME_TOPIC_LIMIT", 32, _positive_int, "most topics per connection"
    )
    origins: tuple[str, ...] | None = _setting(
        "REALTIME_ORIGINS", None, _list, "allowed Origin values, or *"
    )
    host: str = _setting("REALTIME_HOST", "0.0.0.0", str, "listen address")
    port: int = _setting("REALTIME_PORT", 9009, _port, "listen port")
    tls_cert: Path | None = _setting("REALTIME_TLS_CERT", None, _file, "PEM cert")
    tls_key: Path | None = _setting("REALTIME_TLS_KEY", None, _file, "PEM key")
    nats_url: tuple[str, ...] | None = _setting(
        "NATS_URL", None, _list, "NATS servers; unset starts an embedded one"
    )
    nats_creds: Path | None = _setting(
        "NATS_CREDS", None, _file, "NATS credentials file"
    )
    nats_token: str | None = _setting(
        "NATS_TOKEN", None, _text, "NATS token", secret=True
    )
    nats_user: str | None = _setting("NATS_USER", None, _text, "NATS user")
    nats_password: str | None = _setting(
        "NATS_PASSWORD", None, _text, "NATS password", secret=True
    )
    subject_prefix: str = _setting(
        "REALTIME_SUBJECT_PREFIX", "linkpeek", _prefix, "subject prefix of topics"
    )
    api_keys: tuple[str, ...] | None = _setting(
        "REALTIME_API_KEYS", None, _list, "keys allowed to create sessions", True
    )
    idle_timeout: float = _setting(
        "REALTIME_IDLE_TIMEOUT", 75.0, _positive_seconds, "seconds without a frame"
    )
    session_idle: float = _setting(
        "REALTIME_SESSION_IDLE", 1800.0, _positive_seconds, "session idle expiry"
    )
    session_ttl: float = _setting(
        "REALTIME_SESSION_TTL", 86400.0, _positive_seconds, "longest session life"
    )
    send_queue_bytes: int = _setting(
        "REALTIME_SEND_QUEUE_BYTES", 1048576, _positive_int, "per-client send bound"
    )
    max_message: int = _setting(
        "REALTIME_MAX_MESSAGE", 65536, _positive_int, "largest client frame"
    )
    stream_replicas: int = _setting(
        "REALTIME_STREAM_REPLICAS", 1, _replicas, "JetStream replicas"
    )
    workers: int = _setting(
        "REALTIME_WORKERS", 1, _positive_int, "worker processes sharing the port"
    )
    data_dir: Path = _setting(
        "REALTIME_DATA_DIR", Path(".realtime"), Path, "embedded NATS data"
    )
    log_level: str = _setting("REALTIME_LOG_LEVEL", "INFO", _level, "log level")

    @classmethod
    def load(
        cls, env: Mapping[str, str], overrides: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from ``env``, with ``overrides`` (by variable) taking precedence."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            variable = field.metadata[_VARIABLE]
            raw = (overrides or {}).get(variable, env.get(variable))
            if raw is None:
                continue
            try:
                values[field.name] = field.metadata[_PARSE](raw.strip())
            except ValueError as exc:
                shown = "(hidden)" if field.metadata[_SECRET] else repr(raw)
                raise SettingsError(f"{variable}={shown}: {_reason(exc)}") from None
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("REALTIME_TLS_CERT and REALTIME_TLS_KEY go together")
        if (self.nats_user is None) != (self.nats_password is None):
            raise SettingsError("NATS_USER and NATS_PASSWORD go together")
        if self.workers > 1 and self.port == 0:
            raise SettingsError(
                "REALTIME_PORT=0 cannot be shared: REALTIME_WORKERS above 1 needs "
                "a fixed port"
            )

    @property
    def embedded_nats(self) -> bool:
        return self.nats_url is None

    def public(self) -> dict[str, Any]:
        """Every setting by variable, secrets left out: for the ``config`` record."""
        shown: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            if field.metadata[_SECRET]:
                continue
            value = getattr(self, field.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            shown[field.metadata[_VARIABLE]] = value
        return shown


def _reason(exc: ValueError) -> str:
    text = str(exc)
    if text.startswith(("invalid literal", "could not convert")):
        return "must be a number"
    return text


def add_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting; values are kept as text for :meth:`Settings.load`."""
    for field in dataclasses.fields(Settings):
        variable = field.metadata[_VARIABLE]
        parser.add_argument(
            flag_of(variable),
            dest=variable,
            metavar="VALUE",
            default=None,
            help=f"{field.metadata[_HELP]} (env {variable})",
        )


def flag_of(variable: str) -> str:
    name = variable.removeprefix("REALTIME_").lower().replace("_", "-")
    return f"--{name}"


def overrides_from(namespace: argparse.Namespace) -> dict[str, str]:
    return {
        field.metadata[_VARIABLE]: value
        for field in dataclasses.fields(Settings)
        if (value := getattr(namespace, field.metadata[_VARIABLE], None)) is not None
    }
