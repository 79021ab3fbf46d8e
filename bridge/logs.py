"""Log lines with fixed field names: ``<time> <level> <logger> <event> k=v ...``.

Modules log a short event name and pass details as ``extra`` fields; only the
names in :data:`FIELDS` are printed, so nothing reaches the log by accident.
Tokens and keys are never among them.
"""

from __future__ import annotations

import logging
import sys
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

from .tracing import TraceIdFilter

FIELDS = (
    "edge",
    "conn",
    "subject",
    "topic",
    "kind",
    "remote",
    "origin",
    "user_agent",
    "method",
    "path",
    "status",
    "code",
    "reason",
    "duration_s",
    "elapsed_ms",
    "count",
    "seq",
    "queued",
    "server",
    "url",
    "key",
    "error",
    "trace_id",
)


class FieldFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"{stamp}.{int(record.msecs):03d}Z",
            record.levelname,
            record.name,
            record.getMessage(),
        ]
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                parts.append(f"{name}={_quote(value)}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(c in text for c in ' "=\n'):
        return (
            '"'
            + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            + '"'
        )
    return text


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FieldFormatter())
    handler.addFilter(TraceIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("bridge").setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(level)


class AccessLogger(AbstractAccessLogger):
    """One line per HTTP request, with the path but never the query string
    (it carries tokens)."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "access",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "elapsed_ms": round(time * 1000, 1),
                "remote": request.remote,
            },
        )
