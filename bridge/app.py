"""The edge: the aiohttp application, its endpoints, and start-up and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import nats.errors
from aiohttp import hdrs, web
from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind

from . import catalog as catalog_module
from . import metrics, policy, tracing
from .auditlog import AuditLog
from .catalog import Catalog, Topic
from .closecodes import CloseCode
from .connection import Connection, Flusher
from .events import Prepared
from .fanout import Hub
from .http import bearer, json_error
from .instruments import EdgeMetrics
from .logs import AccessLogger
from .session_api import SessionApi
from .session_store import SessionStore
from .session_tracker import SessionTracker
from .sessions import Session
from .settings import Settings
from .tracing import parent_of
from .upstream import Upstream, UpstreamUnavailable

log = logging.getLogger(__name__)

_RETRY_START = 0.5
_RETRY_MAX = 5.0
_DROP_LOG_INTERVAL = 5.0
_SCRAPE_TIMEOUT = 0.5
_LISTEN_BACKLOG = 4096
_STATIC = Path(__file__).resolve().parent / "static"


class Edge:
    """One edge process: its connections, the hub, and its NATS link.

    ``start`` opens the port at once and connects to NATS in the background:
    ``/readyz`` answers 503 and WebSocket clients are asked to come back (1013)
    until the streams and the session bucket are ready.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        group: str | None = None,
    ) -> None:
        self.settings = settings
        self.group = group
        """Shared by the workers of one ``serve``: they answer /metrics together."""
        self.catalog = catalog or catalog_module.load()
        self.id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.metrics = EdgeMetrics()
        self.tracing = tracing.setup(os.environ)
        self.metrics.registry.gauge(
            "realtime_edge_ready",
            "1 when NATS, streams and sessions are ready.",
            function=lambda: 1.0 if self.ready else 0.0,
        )
        self.upstream = Upstream(
            settings,
            self.catalog,
            name=f"realtime-edge {self.id}",
            on_event=self._on_event,
            on_drop=self._on_drop,
            on_reconnect=self.metrics.nats_reconnects.inc,
            tracing=self.tracing,
        )
        self.hub = Hub(self.catalog, self.upstream.read, self.metrics)
        self.audit = AuditLog(self.upstream.publish, settings.subject_prefix, self.id)
        self.store: SessionStore | None = None
        self.generated_api_key = (
            None if settings.api_keys else secrets.token_urlsafe(24)
        )
        self.api_keys = settings.api_keys or (self.generated_api_key or "",)
        # Sessions in use are written back a few times per idle period, so that
        # every edge sees them alive, and checked every second for expiry.
        self.tracker = SessionTracker(touch_every=min(30.0, settings.session_idle / 4))
        self._sweep_every = min(1.0, settings.session_idle / 4)
        self._sweeping: asyncio.Task[None] | None = None
        self.connections: set[Connection] = set()
        self.flusher = Flusher()
        self.port: int | None = None
        self._feeds_started = False
        self._answering = False
        self._runner: web.AppRunner | None = None
        self._linking: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._dropped_since: dict[str, int] = {}
        self._drop_logged: dict[str, float] = {}
        self.app = self._build_app()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self.upstream.connected

    def _build_app(self) -> web.Application:
        # The tracing middleware only when tracing is on: every connection's
        # handler would otherwise carry its frame for the connection's life.
        middlewares = [self._trace_requests] if self.tracing.tracer else []
        app = web.Application(middlewares=middlewares)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        if self.settings.enabled:
            app.router.add_get("/realtime", self._realtime)
            app.router.add_get("/client.js", self._client_js)
            if self.settings.console:
                app.router.add_get("/", self._console)
        SessionApi(
            self.settings, self.catalog, self.api_keys, lambda: self.store, self.audit
        ).add_routes(app)
        app.on_shutdown.append(self._close_clients)
        return app

    @web.middleware
    async def _trace_requests(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """A server span for each session API request."""
        if self.tracing.tracer is None or request.path != "/session":
            return await handler(request)
        attributes = {"http.request.method": request.method, "url.path": request.path}
        with self.tracing.span(
            f"{request.method} /session",
            SpanKind.SERVER,
            parent_of(request.headers),
            attributes,
        ) as span:
            response = await handler(request)
            if span is not None:
                span.set_attribute("http.response.status_code", response.status)
            return response

    # -- start-up and shutdown ------------------------------------------------------

    async def start(self) -> None:
        # 1. Open the port, so that health probes answer while NATS is reached.
        self._runner = web.AppRunner(
            self.app, access_log_class=AccessLogger, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self.settings.host,
            self.settings.port,
            ssl_context=self._tls(),
            reuse_port=self.settings.workers > 1,
            # After an edge restart every client reconnects at once; a short
            # accept queue drops their SYNs and TCP retries only a second later.
            backlog=_LISTEN_BACKLOG,
        )
        await site.start()
        self.port = self._bound_port(site)
        log.info(
            "listening",
            extra={"edge": self.id, "url": f"{self.settings.host}:{self.port}"},
        )

        # 2. Connect upstream, ensure the streams and the session bucket, start
        #    the live feeds; in the background, retrying until NATS answers.
        self._linking = asyncio.create_task(self._link())

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def _link(self) -> None:
        upstream = self.upstream
        servers = ", ".join(self.settings.nats_url or ["nats://127.0.0.1:4222"])
        log.info("connecting to nats", extra={"edge": self.id, "server": servers})
        await upstream.connect()
        delay = _RETRY_START
        while True:
            try:
                await upstream.ensure_streams()
                assert upstream.js is not None
                if self.store is None:
                    store = await SessionStore.open(
                        upstream.js,
                        self.settings.subject_prefix,
                        self.settings.session_ttl,
                        self.settings.stream_replicas,
                    )
                    await store.watch(self._session_changed)
                    self.store = store
                if self.group is not None and not self._answering:
                    await self._answer_metrics()
                    self._answering = True
                if self.settings.enabled and not self._feeds_started:
                    await upstream.start_feeds()
                    self._feeds_started = True
                break
            except (nats.errors.Error, TimeoutError, UpstreamUnavailable) as exc:
                log.warning(
                    "jetstream not ready, retrying",
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
        self._sweeping = asyncio.create_task(self._sweep_sessions())
        self._ready.set()
        log.info("ready", extra={"edge": self.id})
        await self.audit.record("config", settings=self.settings.public())

    async def stop(self) -> None:
        # 1. Stop connecting to NATS if that is still under way, and the sweeps.
        for task in (self._linking, self._sweeping):
            if task is not None and not task.done():
                task.cancel()

        # 2. Close every client with 1001 and stop listening (on_shutdown).
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

        # 3. Stop watching sessions and the live feeds; drain the NATS connection.
        if self.store is not None:
            await self.store.close()
        await self.upstream.close()
        self.tracing.shutdown()
        log.info("stopped", extra={"edge": self.id})

    async def _close_clients(self, app: web.Application) -> None:
        clients = list(self.connections)
        if clients:
            log.info("closing clients", extra={"count": len(clients)})
        await asyncio.gather(*(c.close(CloseCode.GOING_AWAY) for c in clients))

    def _tls(self) -> ssl.SSLContext | None:
        if self.settings.tls_cert is None or self.settings.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context

    @staticmethod
    def _bound_port(site: web.TCPSite) -> int:
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else site._port

    # -- sessions in use --------------------------------------------------------------

    def _session_changed(
        self, key: str, session: Session | None, revision: int
    ) -> None:
        for holder in self.tracker.changed(key, session, revision):
            self._unauthorized(holder, "session revoked")

    def _unauthorized(self, holder: object, reason: str) -> None:
        if isinstance(holder, Connection):
            log.info("session ended", extra={"conn": holder.id, "reason": reason})
            holder.close_soon(CloseCode.UNAUTHORIZED)

    async def _sweep_sessions(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every)
            closing, touches = self.tracker.due(time.time())
            for holder in closing:
                self._unauthorized(holder, "session expired")
            store = self.store
            if store is None:
                continue
            for touch in touches:
                try:
                    revision = await store.touch(
                        touch.key, touch.session, touch.revision
                    )
                    if revision is not None:
                        self.tracker.touched(touch.key, touch.session, revision)
                        continue
                    stored = await store.get(touch.key)
                except (nats.errors.Error, TimeoutError):
                    continue
                if stored is None:
                    for holder in self.tracker.forget(touch.key):
                        self._unauthorized(holder, "session gone")
                else:
                    self.tracker.changed(touch.key, stored.session, stored.revision)

    # -- live messages --------------------------------------------------------------

    def _on_event(
        self, topic: Topic, event: Prepared, headers: dict[str, str] | None
    ) -> None:
        if self.tracing.tracer is None:
            self.hub.deliver(topic, event)
            return
        attributes = {
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": f"{self.settings.subject_prefix}."
            f"{event.subject}",
            "messaging.message.body.size": event.size,
            "realtime.topic": topic.name,
            "realtime.seq": event.seq,
        }
        with self.tracing.span(
            f"fanout {topic.name}", SpanKind.CONSUMER, parent_of(headers), attributes
        ) as span:
            recipients, filtered = self.hub.deliver(topic, event)
            if span is not None:
                span.set_attribute("realtime.recipients", recipients)
                span.set_attribute("realtime.filtered_out", filtered)

    def _on_drop(self, topic: Topic, subject: str) -> None:
        self.metrics.dropped.labels(topic=topic.name).inc()
        # A producer sending garbage at full speed must not flood the log: one
        # line per topic every few seconds, with how many were dropped.
        count = self._dropped_since.get(topic.name, 0) + 1
        now = time.monotonic()
        if now - self._drop_logged.get(topic.name, -_DROP_LOG_INTERVAL) < (
            _DROP_LOG_INTERVAL
        ):
            self._dropped_since[topic.name] = count
            return
        self._dropped_since[topic.name] = 0
        self._drop_logged[topic.name] = now
        log.warning(
            "payload is not a JSON object, dropped",
            extra={"topic": topic.name, "subject": subject, "count": count},
        )

    # -- endpoints ------------------------------------------------------------------

    async def _client_js(self, request: web.Request) -> web.Response:
        return web.Response(
            body=(_STATIC / "client.js").read_bytes(),
            content_type="text/javascript",
            headers={hdrs.CACHE_CONTROL: "no-cache"},
        )

    async def _console(self, request: web.Request) -> web.Response:
        page = (_STATIC / "console.html").read_text()
        topics = msgspec.json.encode(sorted(self.catalog)).decode()
        return web.Response(
            text=page.replace("__TOPICS__", topics), content_type="text/html"
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "edge": self.id})

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.json_response({"ready": True, "edge": self.id})
        if not self.upstream.connected:
            reason = "NATS is not connected"
        elif not self.upstream.streams_ready:
            reason = "topic streams are not ready"
        else:
            reason = "session bucket is not ready"
        return web.json_response(
            {"ready": False, "edge": self.id, "reason": reason}, status=503
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.group is None or self.settings.workers == 1:
            body = self.metrics.registry.render()
        else:
            body = metrics.render_many(await self._worker_snapshots())
        return web.Response(
            body=body, headers={hdrs.CONTENT_TYPE: metrics.CONTENT_TYPE}
        )

    def _metrics_subject(self) -> str:
        return f"_REALTIME.metrics.{self.group}"

    async def _answer_metrics(self) -> None:
        """Workers of one ``serve`` answer each other's scrapes over NATS, so
        that whichever worker the scrape reaches reports them all."""
        nc = self.upstream.nc
        assert nc is not None

        async def answer(msg: Msg) -> None:
            if msg.reply:
                snapshot = msgspec.json.encode(self.metrics.registry.snapshot())
                await nc.publish(msg.reply, snapshot)

        await nc.subscribe(self._metrics_subject(), cb=answer)

    async def _worker_snapshots(self) -> list[metrics.Snapshot]:
        nc = self.upstream.nc
        own = self.metrics.registry.snapshot()
        if nc is None or not nc.is_connected:
            return [own]
        inbox = nc.new_inbox()
        replies = await nc.subscribe(inbox, max_msgs=self.settings.workers)
        snapshots: list[metrics.Snapshot] = []
        try:
            await nc.publish(self._metrics_subject(), b"", reply=inbox)
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                async with asyncio.timeout(_SCRAPE_TIMEOUT):
                    while len(snapshots) < self.settings.workers:
                        msg = await replies.next_msg(timeout=_SCRAPE_TIMEOUT)
                        snapshots.append(msgspec.json.decode(msg.data))
        finally:
            with contextlib.suppress(nats.errors.Error):
                await replies.unsubscribe()
        # A worker that did not answer in time is left out, not the whole scrape.
        return snapshots or [own]

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        # 1. Before the upgrade: a plain GET, or a refused Origin, gets HTTP.
        if request.headers.get(hdrs.UPGRADE, "").lower() != "websocket":
            return json_error(400, "bad_request", "this endpoint speaks WebSocket")
        origin = request.headers.get(hdrs.ORIGIN)
        if not policy.origin_allowed(origin, request.host, self.settings.origins):
            log.warning(
                "origin refused", extra={"origin": origin, "remote": request.remote}
            )
            return json_error(403, "forbidden", "origin not allowed")

        # 2. Upgrade, then check the token: a browser can read a close code but
        #    not the status of a refused upgrade.
        ws = web.WebSocketResponse(
            max_msg_size=self.settings.max_message, compress=False, timeout=2.0
        )
        await ws.prepare(request)
        token = request.query.get("token") or bearer(request)
        details = {
            "remote": request.remote,
            "user_agent": request.headers.get(hdrs.USER_AGENT),
            "origin": origin,
        }
        if not self.ready or self.store is None:
            return await _refuse(ws, CloseCode.TRY_AGAIN_LATER)
        try:
            stored = await self.store.find(token) if token else None
        except (nats.errors.Error, TimeoutError):
            return await _refuse(ws, CloseCode.TRY_AGAIN_LATER)
        if stored is None:
            self.metrics.auth_failures.inc()
            reason = "missing token" if not token else "invalid or expired token"
            log.warning(
                "auth failed", extra={"remote": request.remote, "reason": reason}
            )
            await self.audit.record("auth.failed", reason=reason, **details)
            return await _refuse(ws, CloseCode.UNAUTHORIZED)

        # 3. Serve the connection until either side closes.
        session = stored.session
        assert request.transport is not None
        conn = Connection(
            conn_id=secrets.token_hex(6),
            ws=ws,
            transport=request.transport,
            session=session,
            hub=self.hub,
            catalog=self.catalog,
            settings=self.settings,
            metrics=self.metrics,
            tracing=self.tracing,
            flusher=self.flusher,
        )
        self.connections.add(conn)
        self.tracker.attach(stored.key, session, stored.revision, conn)
        self.metrics.connections.inc()
        log.info(
            "connect",
            extra={"conn": conn.id, "subject": session.subject, **details},
        )
        await self.audit.record(
            "connect", conn=conn.id, subject=session.subject, **details
        )
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            self.tracker.detach(stored.key, conn)
            self.metrics.connections.dec()
            duration = round(time.monotonic() - conn.opened, 3)
            code = conn.close_code
            self.metrics.disconnects.labels(code=str(code)).inc()
            log.info(
                "disconnect",
                extra={"conn": conn.id, "code": code, "duration_s": duration},
            )
            await self.audit.record(
                "disconnect",
                conn=conn.id,
                subject=session.subject,
                code=code,
                duration_s=duration,
                **details,
            )
        return ws


async def _refuse(ws: web.WebSocketResponse, code: CloseCode) -> web.WebSocketResponse:
    """Close an upgraded socket before it became a connection."""
    await ws.close(code=code, message=code.reason.encode())
    return ws
