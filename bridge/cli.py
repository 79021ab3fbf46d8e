"""``realtime-bridge``: serve the edge, publish events, run the demo, mint tokens."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors

from . import logs, natsserver, protocol, sessions
from .app import Edge
from .session_store import SessionStore
from .settings import Settings, SettingsError, add_flags, overrides_from
from .upstream import connect_options
from .workers import Supervisor

log = logging.getLogger("bridge.cli")

EMBEDDED_HOST = "127.0.0.1"
EMBEDDED_PORT = 4222


class CommandError(Exception):
    """Ends a command with one line on stderr and exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.load(os.environ, overrides_from(args))
    except SettingsError as exc:
        print(f"realtime-bridge: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        return int(_run(args.run(settings, args)) or 0)
    except CommandError as exc:
        print(f"realtime-bridge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``listen ... | head``): stop quietly, and keep
        # the interpreter from complaining about stdout while it exits.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(main: Coroutine[Any, Any, int]) -> int:
    """Run on uvloop where it is installed (a dependency except on Windows),
    else on asyncio's own loop; the edge works the same on both, and uvloop's
    I/O costs less CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return int(uvloop.run(main))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime-bridge", description="WebSocket edge for the realtime fabric."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the edge")
    add_flags(serve)
    serve.set_defaults(run=_serve)

    publish = commands.add_parser("publish", help="publish one event")
    publish.add_argument("subject", help="topic or topic.entity, e.g. payload.list.123")
    publish.add_argument("json", help="the event data, a JSON object")
    publish.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scope metadata, sent as a header (repeatable)",
    )
    publish.set_defaults(run=_publish)

    demo = commands.add_parser("demo", help="publish demo traffic until stopped")
    demo.add_argument("--rate", type=float, default=20.0, help="messages per second")
    demo.set_defaults(run=_demo)

    token = commands.add_parser("token", help="mint a session token")
    token.add_argument("--subject", default="operator", help="who the session is for")
    token.add_argument(
        "--topic",
        action="append",
        dest="topics",
        metavar="TOPIC",
        help="allow only this topic (repeatable; default: all)",
    )
    token.add_argument("--ttl", type=float, help="seconds the session lives")
    token.set_defaults(run=_token)

    listen = commands.add_parser(
        "listen", help="print the events of topics, resuming across disconnects"
    )
    listen.add_argument("topics", nargs="+", metavar="TOPIC")
    listen.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="scope filter (repeatable; repeat a key for several values)",
    )
    listen.add_argument(
        "--url", default="ws://127.0.0.1:9009/realtime", help="the edge's endpoint"
    )
    listen.add_argument(
        "--token",
        default=os.environ.get("REALTIME_TOKEN"),
        help="session token (env REALTIME_TOKEN; default: mint one in NATS)",
    )
    listen.set_defaults(run=_listen)

    bench = commands.add_parser(
        "bench", help="benchmark the edge, optionally beside nats-server's WebSocket"
    )
    bench.add_argument(
        "--scenario",
        action="append",
        choices=("fanout", "scoped", "snapshot", "idle"),
        help="run only this scenario (repeatable; default: all)",
    )
    bench.add_argument(
        "--peer", choices=("nats-ws",), help="also run the clients against this peer"
    )
    bench.add_argument("--json", action="store_true", help="one JSON object per row")
    bench.add_argument("--clients", type=int, default=1000, help="fanout, snapshot")
    bench.add_argument("--messages", type=int, default=2000, help="fanout messages")
    bench.add_argument("--scoped-clients", type=int, default=1000)
    bench.add_argument("--scoped-messages", type=int, default=20000)
    bench.add_argument("--size", type=int, default=256, help="payload bytes")
    bench.add_argument("--entities", type=int, default=100, help="snapshot entities")
    bench.add_argument("--idle", type=int, default=10000, help="idle connections")
    bench.add_argument("--processes", type=int, default=2, help="client processes")
    bench.add_argument(
        "--rate", type=float, default=0.0, help="producer messages/s (0: flood)"
    )
    bench.add_argument(
        "--tracing", action="store_true", help="edge exports spans to a local sink"
    )
    bench.set_defaults(run=_bench)
    return parser


# -- serve --------------------------------------------------------------------------


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    # 1. Without NATS_URL, start the embedded nats-server with JetStream.
    embedded = None
    if settings.embedded_nats:
        embedded = await _start_embedded(settings)
        settings = dataclasses.replace(settings, nats_url=(embedded.url,))
        print(f"NATS for producers: {embedded.url}", flush=True)

    # 2. Without REALTIME_API_KEYS, one generated key, shown once, for every worker.
    if settings.api_keys is None:
        key = secrets.token_urlsafe(24)
        settings = dataclasses.replace(settings, api_keys=(key,))
        print(f"API key for POST /session (generated, shown once): {key}", flush=True)
    try:
        # 3. Serve until SIGTERM or SIGINT: in this process, or in workers.
        if settings.workers > 1:
            print(
                f"realtime edge on {settings.host}:{settings.port} "
                f"({settings.workers} workers)",
                flush=True,
            )
            await Supervisor(settings, group=secrets.token_hex(4)).run(stop)
        else:
            edge = Edge(settings)
            await edge.start()
            print(f"realtime edge on {settings.host}:{edge.port}", flush=True)
            await stop.wait()
            log.info("shutting down", extra={"edge": edge.id})
            # Clients are closed with 1001 and the connection to NATS drained.
            await edge.stop()
    finally:
        # 4. Stop the embedded server last, once nothing uses it.
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    return 0


async def _start_embedded(settings: Settings) -> natsserver.NatsServer:
    if natsserver.port_in_use(EMBEDDED_HOST, EMBEDDED_PORT):
        raise CommandError(
            f"port {EMBEDDED_PORT} on {EMBEDDED_HOST} is taken, so the embedded NATS "
            "cannot start; stop what uses it or set NATS_URL"
        )
    server = natsserver.NatsServer(
        store_dir=settings.data_dir.resolve() / "nats",
        host=EMBEDDED_HOST,
        port=EMBEDDED_PORT,
        monitor_port=natsserver.free_port(),
        name="realtime-embedded",
    )
    server.start()
    try:
        await asyncio.to_thread(server.wait_ready)
    except natsserver.NatsServerError as exc:
        server.stop()
        raise CommandError(f"embedded NATS did not start: {exc}") from None
    log.info("embedded nats started", extra={"url": server.url})
    return server


# -- producer and operator tools ----------------------------------------------------


@contextlib.asynccontextmanager
async def _nats(settings: Settings, name: str, **overrides: Any) -> Any:
    options = connect_options(settings, name)
    options.update(max_reconnect_attempts=1, connect_timeout=2)
    options.update(overrides)
    servers = ", ".join(options["servers"])  # type: ignore[arg-type]

    async def quiet(exc: Exception) -> None:
        pass

    try:
        nc = await nats.connect(**options, error_cb=quiet)  # type: ignore[arg-type]
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise CommandError(f"cannot reach NATS at {servers}: {exc}") from None
    try:
        yield nc
    finally:
        await nc.drain()


def _scope_headers(pairs: list[str]) -> dict[str, str]:
    return dict(_scope_pairs(pairs))


async def _publish(settings: Settings, args: argparse.Namespace) -> int:
    payload = args.json.encode()
    if protocol.decode_object(payload) is None:
        raise CommandError("the event data must be a JSON object")
    headers = _scope_headers(args.scope)
    subject = f"{settings.subject_prefix}.{args.subject}"
    async with _nats(settings, "realtime-bridge publish") as nc:
        js = nc.jetstream(timeout=5)
        try:
            ack = await js.publish(subject, payload, headers=headers or None)
        except nats.js.errors.NoStreamResponseError:
            raise CommandError(
                f"no topic stream holds {subject}; is the edge running with this "
                "catalog and prefix?"
            ) from None
    print(f"published {args.subject} seq {ack.seq}")
    return 0


async def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from . import tracing
    from .demo import run_demo

    traced = tracing.setup(os.environ, service="realtime-demo")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with _nats(settings, "realtime-bridge demo", max_reconnect_attempts=-1) as nc:
        print(f"publishing demo traffic at {args.rate:g}/s; Ctrl-C stops", flush=True)
        sent = await run_demo(
            nc, settings.subject_prefix, args.rate, stop, tracer=traced.tracer
        )
    traced.shutdown()
    print(f"published {sent} events")
    return 0


async def _bench(settings: Settings, args: argparse.Namespace) -> int:
    from .bench import runner

    options = runner.Options(
        scenarios=args.scenario or list(runner.SCENARIOS),
        targets=["bridge", *([args.peer] if args.peer else [])],
        clients=args.clients,
        messages=args.messages,
        scoped_clients=args.scoped_clients,
        scoped_messages=args.scoped_messages,
        size=args.size,
        entities=args.entities,
        idle=args.idle,
        processes=args.processes,
        rate=args.rate,
        tracing=args.tracing,
    )

    def report() -> None:
        if not args.json:
            print(runner.table_header(), flush=True)
        for row in runner.run(options):
            line = json.dumps(row) if args.json else runner.table_row(row)
            print(line, flush=True)

    # The runner drives its own event loops and processes: give it a thread.
    await asyncio.to_thread(report)
    return 0


async def _listen(settings: Settings, args: argparse.Namespace) -> int:
    from .client import AuthRequired, ClientGaveUp, RealtimeClient

    scopes: dict[str, list[str]] = {}
    for key, value in _scope_pairs(args.scope):
        scopes.setdefault(key, []).append(value)
    token = args.token or await _mint(settings, "listen", None, settings.session_ttl)
    try:
        async with RealtimeClient(args.url, token) as client:
            await client.subscribe(*args.topics, scopes=scopes or None)
            async for frame in client:
                if frame["op"] == "event":
                    mark = " snapshot" if frame["snapshot"] else ""
                    data = json.dumps(frame["data"], separators=(",", ":"))
                    print(f"{frame['seq']} {frame['subject']}{mark} {data}", flush=True)
                elif frame["op"] == "error":
                    print(f"error {frame.get('topic', '')}: {frame['message']}")
    except AuthRequired:
        raise CommandError("the edge refused the token (4401); get a new one") from None
    except ClientGaveUp as exc:
        raise CommandError(str(exc)) from None
    return 0


def _scope_pairs(pairs: list[str]) -> list[tuple[str, str]]:
    """``--scope KEY=VALUE`` arguments as pairs, in order."""
    found = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--scope wants KEY=VALUE, got {pair!r}")
        found.append((key, value))
    return found


async def _token(settings: Settings, args: argparse.Namespace) -> int:
    ttl = min(args.ttl or settings.session_ttl, settings.session_ttl)
    print(await _mint(settings, args.subject, args.topics, ttl))
    return 0


async def _mint(
    settings: Settings, subject: str, topics: list[str] | None, ttl: float
) -> str:
    """A new session written straight into the session bucket; its token."""
    async with _nats(settings, "realtime-bridge token") as nc:
        store = await SessionStore.open(
            nc.jetstream(timeout=5),
            settings.subject_prefix,
            settings.session_ttl,
            settings.stream_replicas,
        )
        session = sessions.mint(
            subject=subject,
            topics=topics,
            scopes=None,
            ttl=ttl,
            idle_timeout=settings.session_idle,
            now=time.time(),
        )
        token, _ = await store.create(session)
    return token
