"""``/session``: create, read and revoke sessions over HTTP (SPEC section 4)."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import nats.errors
from aiohttp import web

from . import sessions
from .auditlog import AuditLog
from .catalog import Catalog
from .http import bearer, json_error
from .protocol import ScopeValue, iso_ms
from .scopes import ScopeError, normalize
from .session_store import SessionStore
from .settings import Settings

log = logging.getLogger(__name__)

_MAX_BODY = 16 * 1024
_MAX_SUBJECT = 256


class SessionRequest(msgspec.Struct, forbid_unknown_fields=True):
    subject: str = "anonymous"
    topics: list[str] | None = None
    scopes: dict[str, dict[str, ScopeValue]] | None = None
    ttl: float | None = None


class BadSession(ValueError):
    pass


def api_key_valid(given: str, keys: Sequence[str]) -> bool:
    """Whether ``given`` is one of ``keys``, compared in constant time; every
    key is compared, so the time does not tell which one came close."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


def check_request(request: SessionRequest, catalog: Catalog) -> None:
    """Refuse what the edge could never honour: unknown topics and scope keys."""
    if not request.subject or len(request.subject) > _MAX_SUBJECT:
        raise BadSession(f"subject must be 1 to {_MAX_SUBJECT} characters")
    if request.topics is not None:
        unknown = [t for t in request.topics if t not in catalog]
        if unknown:
            raise BadSession(f"unknown topic {unknown[0]!r}")
    for topic, scopes in (request.scopes or {}).items():
        if topic not in catalog:
            raise BadSession(f"scopes name unknown topic {topic!r}")
        if request.topics is not None and topic not in request.topics:
            raise BadSession(f"scopes name {topic!r}, which topics leaves out")
        try:
            if not normalize(scopes, catalog[topic].scope_keys):
                raise BadSession(f"scopes of {topic!r} are empty")
        except ScopeError as exc:
            raise BadSession(f"{topic}: {exc}") from None
    if request.ttl is not None and not request.ttl > 0:
        raise BadSession("ttl must be a positive number of seconds")


def _iso(seconds: float) -> str:
    return iso_ms(datetime.fromtimestamp(seconds, UTC))


class SessionApi:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        api_keys: Sequence[str],
        store: Callable[[], SessionStore | None],
        audit: AuditLog,
    ) -> None:
        self._settings = settings
        self._catalog = catalog
        self._api_keys = tuple(api_keys)
        self._store = store
        self._audit = audit

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/session", self.create)
        app.router.add_get("/session", self.read)
        app.router.add_delete("/session", self.revoke)

    async def create(self, request: web.Request) -> web.Response:
        given = bearer(request)
        if given is None or not api_key_valid(given, self._api_keys):
            log.warning("session api key refused", extra={"remote": request.remote})
            return json_error(401, "unauthorized", "a valid API key is required")
        body = await request.content.read(_MAX_BODY + 1)
        if len(body) > _MAX_BODY:
            return json_error(400, "bad_request", "body too large")
        try:
            wanted = msgspec.json.decode(body or b"{}", type=SessionRequest)
            check_request(wanted, self._catalog)
        except (msgspec.DecodeError, BadSession) as exc:
            return json_error(400, "bad_request", str(exc))
        store = self._store()
        if store is None:
            return json_error(503, "unavailable", "the session store is not ready")
        ttl = min(wanted.ttl or self._settings.session_ttl, self._settings.session_ttl)
        session = sessions.mint(
            subject=wanted.subject,
            topics=wanted.topics,
            scopes=wanted.scopes,
            ttl=ttl,
            idle_timeout=self._settings.session_idle,
            now=time.time(),
        )
        try:
            token, stored = await store.create(session)
        except (nats.errors.Error, TimeoutError):
            return json_error(503, "unavailable", "the session store is unreachable")
        await self._audit.record(
            "session.created",
            subject=session.subject,
            session=stored.key[:12],
            topics=session.topics,
            expires_at=_iso(session.expires_at),
        )
        return web.json_response(
            {
                "token": token,
                "subject": session.subject,
                "topics": session.topics,
                "scopes": session.scopes,
                "expires_at": _iso(session.expires_at),
                "idle_timeout": session.idle_timeout,
            },
            status=201,
        )

    async def read(self, request: web.Request) -> web.Response:
        store = self._store()
        if store is None:
            return json_error(503, "unavailable", "the session store is not ready")
        token = bearer(request)
        stored = await store.find(token) if token else None
        if stored is None:
            return _no_session()
        return web.json_response(_view(stored.session))

    async def revoke(self, request: web.Request) -> web.Response:
        store = self._store()
        if store is None:
            return json_error(503, "unavailable", "the session store is not ready")
        token = bearer(request)
        revoked = await store.revoke(token) if token else None
        if revoked is None:
            return _no_session()
        await self._audit.record(
            "session.revoked",
            subject=revoked.session.subject,
            session=revoked.key[:12],
        )
        return web.Response(status=204)


def _no_session() -> web.Response:
    return json_error(401, "unauthorized", "no live session for this token")


def _view(session: sessions.Session) -> dict[str, Any]:
    return {
        "subject": session.subject,
        "topics": session.topics,
        "scopes": session.scopes,
        "created_at": _iso(session.created_at),
        "expires_at": _iso(session.expires_at),
        "last_used_at": _iso(session.last_used_at),
        "idle_timeout": session.idle_timeout,
    }
