"""The edge's own records on the ``log.event`` topic (SPEC section 7)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from .protocol import iso_ms

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, dict[str, str]], Awaitable[None]]


class AuditLog:
    """Publishes ``connect``, ``disconnect``, ``auth.failed``, ``config`` and the
    session records, with the scope headers of ``log.event``: ``kind``, and
    ``subject`` when the record names a session subject."""

    def __init__(self, publish: Publish, prefix: str, edge: str) -> None:
        self._publish = publish
        self._subject = f"{prefix}.log.event"
        self._edge = edge

    async def record(self, kind: str, **fields: Any) -> None:
        body = {"kind": kind, "edge": self._edge, "ts": iso_ms(datetime.now(UTC))}
        body.update((k, v) for k, v in fields.items() if v is not None)
        headers = {"kind": kind}
        if isinstance(body.get("subject"), str):
            headers["subject"] = body["subject"]
        try:
            await self._publish(self._subject, msgspec.json.encode(body), headers)
        except Exception as exc:
            # The audit trail must never take a connection down with it.
            log.warning("log.event not published", extra={"kind": kind, "error": exc})
