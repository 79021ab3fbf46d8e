"""Demo producer: realistic LinkPeek lab traffic on all six topics.

The demo stands in for the labs that feed the realtime fabric. Each lab keeps a
small, stable population (20 payloads, 5 tunnels, 8 scanner jobs, ...) and moves
it forward one step per event, so the latest message per subject is a sensible
current state and a snapshot subscriber sees something that makes sense.

It is an ordinary producer: it puts scope metadata in headers named after the
catalog's scope keys, publishes with core NATS, and knows nothing of the edge.
The scope header names written here must stay a subset of each topic's
``scope_keys`` in ``schemas/topics/``; the tests hold the two together.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    import nats.aio.client

__all__ = ["DemoEvent", "demo_events", "message_headers", "run_demo", "traceparent"]

log = logging.getLogger(__name__)
_propagator = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """One demo message before it goes on the wire."""

    # Catalog topic, e.g. "payload.list".
    topic: str
    # Subject tail naming the thing the event is about ("pl_123" gives subject
    # payload.list.pl_123); None publishes on the bare topic subject.
    entity: str | None
    # Header name -> value; every name is one of the topic's scope keys.
    scopes: dict[str, str]
    # The JSON payload, valid against the topic's data schema.
    data: dict[str, Any]

    def subject(self, prefix: str) -> str:
        """The NATS subject this event is published on."""
        subject = f"{prefix}.{self.topic}"
        return subject if self.entity is None else f"{subject}.{self.entity}"


def traceparent() -> str:
    """A W3C ``traceparent`` for a new, sampled trace with fresh ids."""
    # W3C trace context forbids all-zero ids; `or 1` rules them out.
    trace_id = secrets.randbits(128) or 1
    span_id = secrets.randbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def message_headers(event: DemoEvent) -> dict[str, str]:
    """NATS headers for one event: its scopes plus a fresh ``traceparent``."""
    return {**event.scopes, "traceparent": traceparent()}


async def run_demo(
    nc: nats.aio.client.Client,
    prefix: str,
    rate: float,
    stop: asyncio.Event,
    rng: random.Random | None = None,
    tracer: Tracer | None = None,
) -> int:
    """Publish demo_events at about `rate` messages per second with core NATS
    publish until `stop` is set; returns how many were published.

    With a ``tracer``, each publish is a PRODUCER span whose context travels in
    the ``traceparent`` header, so a trace viewer shows the producer and the
    edge's fan-out as one trace; without one, ``traceparent`` is random."""
    if rate <= 0:
        raise ValueError(f"demo rate must be positive, got {rate}")

    events = demo_events(rng if rng is not None else random.Random())
    published = 0
    started = time.monotonic()
    log.info("demo publishing", extra={"subject": f"{prefix}.>", "count": rate})

    while not stop.is_set():
        # 1. Work out how many messages are due by now. Pacing on a running
        # count instead of sleeping 1/rate per message keeps high rates
        # accurate: the event loop's timers cannot wake every 100 µs.
        now = time.monotonic()
        lag = (now - started) - published / rate
        if lag > _MAX_LAG_S:
            # After a stall (a NATS reconnect, a suspended laptop) start the
            # schedule again instead of bursting the backlog at the server.
            started = now - published / rate
        due = int((now - started) * rate) + 1 - published

        # 2. Publish them. A batch is capped so that `stop` is seen promptly.
        for _ in range(min(due, _MAX_BATCH)):
            event = next(events)
            subject = event.subject(prefix)
            payload = msgspec.json.encode(event.data)
            if tracer is None:
                await nc.publish(subject, payload, headers=message_headers(event))
            else:
                with tracer.start_as_current_span(
                    f"publish {event.topic}",
                    kind=SpanKind.PRODUCER,
                    attributes={
                        "messaging.system": "nats",
                        "messaging.destination.name": subject,
                    },
                ):
                    headers = dict(event.scopes)
                    _propagator.inject(headers)
                    await nc.publish(subject, payload, headers=headers)
            published += 1

        # 3. Sleep until the next message is due, waking early on `stop`.
        wait = started + published / rate - time.monotonic()
        if wait <= 0:
            await asyncio.sleep(0)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(wait, _MIN_SLEEP_S))

    await nc.flush()
    log.info("demo stopped", extra={"count": published})
    return published


# Pacing of run_demo, in seconds and messages.
_MAX_LAG_S = 1.0
_MIN_SLEEP_S = 0.005
_MAX_BATCH = 1000


def demo_events(rng: random.Random) -> Iterator[DemoEvent]:
    """Endless realistic LinkPeek traffic over all six topics."""
    payloads = _PayloadLab(rng)
    captures = _CaptureLab(rng, payloads.ids())
    retries = _RetryLab(rng)
    scanners = _ScannerLab(rng)
    tunnels = _TunnelLab(rng)
    audit = _AuditTrail(
        rng,
        targets={
            "payload.shared": payloads.ids(),
            "capture.exported": captures.ids(),
            "scenario.reset": retries.ids(),
            "scanner.rerun_requested": scanners.ids(),
            "tunnel.restart_requested": tunnels.ids(),
        },
    )

    # Announce every entity of the snapshot topics first, so a subscriber
    # joining early already gets a complete snapshot.
    snapshot_labs: list[_Lab] = [payloads, retries, scanners, tunnels]
    for lab in snapshot_labs:
        yield from lab.announce(_utcnow())

    labs: list[_Lab] = [payloads, captures, retries, scanners, tunnels, audit]
    weights = [22, 22, 16, 18, 14, 8]
    while True:
        (lab,) = rng.choices(labs, weights)
        yield lab.step(_utcnow())


class _Lab(Protocol):
    def announce(self, now: datetime) -> Iterator[DemoEvent]: ...

    def step(self, now: datetime) -> DemoEvent: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Ids are short, lowercase and unambiguous, and safe as NATS subject tokens.
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _new_id(rng: random.Random, prefix: str, length: int = 8) -> str:
    return prefix + "".join(rng.choices(_ID_ALPHABET, k=length))


def _ago(rng: random.Random, now: datetime, max_hours: float) -> datetime:
    return now - timedelta(hours=rng.uniform(0.1, max_hours))


_USERS = ("alice", "bashir", "chen", "dara", "emeka", "ines")

# Addresses from the documentation ranges (RFC 5737): realistic, never real.
_NETWORKS = ("192.0.2", "198.51.100", "203.0.113")


def _remote(rng: random.Random) -> str:
    return f"{rng.choice(_NETWORKS)}.{rng.randint(1, 254)}"


# -- payload.list --------------------------------------------------------------

_PAYLOAD_FILES = (
    ("og-card", ".png", "image/png"),
    ("tracking-pixel", ".gif", "image/gif"),
    ("banner", ".webp", "image/webp"),
    ("invoice-preview", ".pdf", "application/pdf"),
    ("landing", ".html", "text/html"),
    ("feed", ".json", "application/json"),
    ("release-notes", ".txt", "text/plain"),
    ("bundle", ".zip", "application/zip"),
    ("teaser", ".mp4", "video/mp4"),
    ("logo", ".svg", "image/svg+xml"),
)

# Variants serve a payload differently, to see how link unfurlers and clients
# react: (label, content type or None to keep the original's, size factor,
# size cap in bytes or None).
_VariantKind = tuple[str, str | None, float, int | None]
_VARIANT_KINDS: tuple[_VariantKind, ...] = (
    ("gzip", "application/gzip", 0.4, None),
    ("as-text", "text/plain", 1.0, None),
    ("as-octet-stream", "application/octet-stream", 1.0, None),
    ("truncated-1k", None, 1.0, 1024),
    ("inline-disposition", None, 1.0, None),
)
_IMAGE_VARIANT_KINDS: tuple[_VariantKind, ...] = (
    ("thumbnail", "image/webp", 0.08, None),
    ("og-1200x630", "image/png", 0.6, None),
)
_MAX_VARIANTS = 5


@dataclass(slots=True)
class _Variant:
    variant_id: str
    label: str
    content_type: str
    size_bytes: int
    created_at: datetime
    downloads: int = 0

    def record(self) -> dict[str, Any]:
        return {
            "variant_id": self.variant_id,
            "label": self.label,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "downloads": self.downloads,
            "created_at": _iso(self.created_at),
        }


@dataclass(slots=True)
class _Payload:
    payload_id: str
    name: str
    content_type: str
    size_bytes: int
    sha256: str
    owner: str
    uploaded_at: datetime
    downloads: int = 0
    last_download_at: datetime | None = None
    variants: list[_Variant] = field(default_factory=list)


class _PayloadLab:
    """Uploaded payloads gaining variants and downloads."""

    topic = "payload.list"

    def __init__(self, rng: random.Random, size: int = 20) -> None:
        self._rng = rng
        self._payloads = [self._new_payload(i) for i in range(size)]

    def ids(self) -> list[str]:
        return [p.payload_id for p in self._payloads]

    def _new_payload(self, index: int) -> _Payload:
        rng = self._rng
        stem, ext, content_type = rng.choice(_PAYLOAD_FILES)
        size = int(rng.lognormvariate(11, 1.6)) + 43
        seed = f"{stem}{index}{rng.random()}".encode()
        return _Payload(
            payload_id=_new_id(rng, "pl_"),
            name=f"{stem}-{index + 1:02d}{ext}",
            content_type=content_type,
            size_bytes=size,
            sha256=hashlib.sha256(seed).hexdigest(),
            owner=rng.choice(_USERS),
            uploaded_at=_ago(rng, _utcnow(), 24 * 14),
        )

    def announce(self, now: datetime) -> Iterator[DemoEvent]:
        for payload in self._payloads:
            yield self._event(payload, "uploaded", now)

    def step(self, now: datetime) -> DemoEvent:
        rng = self._rng
        payload = rng.choice(self._payloads)
        if len(payload.variants) < _MAX_VARIANTS and rng.random() < 0.12:
            created = self._new_variant(payload, now)
            payload.variants.append(created)
            return self._event(payload, "variant.created", now, created)

        # Most downloads fetch the original; the rest pick a variant.
        fetched: _Variant | None = None
        if payload.variants and rng.random() < 0.35:
            fetched = rng.choice(payload.variants)
            fetched.downloads += 1
        payload.downloads += 1
        payload.last_download_at = now
        return self._event(payload, "downloaded", now, fetched)

    def _new_variant(self, payload: _Payload, now: datetime) -> _Variant:
        kinds = _VARIANT_KINDS
        if payload.content_type.startswith("image/"):
            kinds += _IMAGE_VARIANT_KINDS
        taken = {v.label for v in payload.variants}
        label, content_type, factor, cap = self._rng.choice(
            [k for k in kinds if k[0] not in taken]
        )
        size = max(1, int(payload.size_bytes * factor))
        return _Variant(
            variant_id=_new_id(self._rng, "pv_"),
            label=label,
            content_type=content_type or payload.content_type,
            size_bytes=size if cap is None else min(size, cap),
            created_at=now,
        )

    def _event(
        self,
        payload: _Payload,
        change: str,
        now: datetime,
        variant: _Variant | None = None,
    ) -> DemoEvent:
        data: dict[str, Any] = {
            "payload_id": payload.payload_id,
            "name": payload.name,
            "content_type": payload.content_type,
            "size_bytes": payload.size_bytes,
            "sha256": payload.sha256,
            "owner": payload.owner,
            "uploaded_at": _iso(payload.uploaded_at),
            "downloads": payload.downloads,
            "variants": [v.record() for v in payload.variants],
            "change": change,
            "updated_at": _iso(now),
        }
        if payload.last_download_at is not None:
            data["last_download_at"] = _iso(payload.last_download_at)
        if variant is not None:
            data["variant_id"] = variant.variant_id
        return DemoEvent(
            self.topic,
            payload.payload_id,
            {"payloadId": payload.payload_id},
            data,
        )


# -- capture.activity ----------------------------------------------------------

_CAPTURE_AGENTS = (
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
    "WhatsApp/2.23.20.0 A",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "curl/8.5.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
)
_CAPTURE_QUERIES = ("", "", "", "utm_source=slack", "ref=newsletter", "v=2", "s=09")
_REPLAY_TARGETS = (
    "https://staging.example.com/hooks/linkpeek",
    "https://echo.example.net/anything",
    "http://localhost:8080/debug/requests",
)
_REPLAY_ERRORS = (
    "connection refused",
    "timed out after 10s",
    "TLS handshake failed: certificate has expired",
    "no such host",
)


@dataclass(slots=True)
class _Replay:
    replay_id: str
    request_id: str
    target_url: str


@dataclass(slots=True)
class _Capture:
    capture_id: str
    slug: str
    payload_id: str | None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    replay: _Replay | None = None


class _CaptureLab:
    """Capture links recording the requests that reach them, and replays."""

    topic = "capture.activity"

    def __init__(
        self, rng: random.Random, payload_ids: list[str], size: int = 6
    ) -> None:
        self._rng = rng
        self._captures = [
            _Capture(
                capture_id=_new_id(rng, "cap_"),
                slug="".join(rng.choices(_ID_ALPHABET, k=6)),
                # Most capture links serve a payload; the others only record.
                payload_id=rng.choice(payload_ids) if rng.random() < 0.7 else None,
            )
            for _ in range(size)
        ]

    def ids(self) -> list[str]:
        return [c.capture_id for c in self._captures]

    def announce(self, now: datetime) -> Iterator[DemoEvent]:
        return iter(())

    def step(self, now: datetime) -> DemoEvent:
        rng = self._rng
        capture = rng.choice(self._captures)
        if capture.replay is not None:
            return self._finish_replay(capture, capture.replay, now)
        if capture.recent and rng.random() < 0.12:
            replay = _Replay(
                replay_id=_new_id(rng, "rp_"),
                request_id=rng.choice(capture.recent),
                target_url=rng.choice(_REPLAY_TARGETS),
            )
            capture.replay = replay
            return self._event(
                capture,
                "replay.started",
                replay.request_id,
                now,
                replay=self._replay_record(replay),
            )
        return self._capture_request(capture, now)

    def _capture_request(self, capture: _Capture, now: datetime) -> DemoEvent:
        rng = self._rng
        request_id = _new_id(rng, "req_", 10)
        capture.recent.append(request_id)
        (method,) = rng.choices(("GET", "HEAD", "POST", "OPTIONS"), (75, 12, 8, 5))
        request: dict[str, Any] = {
            "method": method,
            "path": f"/c/{capture.slug}",
            "remote": _remote(rng),
            "user_agent": rng.choice(_CAPTURE_AGENTS),
            "headers_count": rng.randint(4, 18),
            "body_bytes": 0,
            "tls": rng.random() < 0.95,
        }
        if query := rng.choice(_CAPTURE_QUERIES):
            request["query"] = query
        if method == "POST":
            request["body_bytes"] = rng.randint(20, 4096)
            request["content_type"] = rng.choice(
                ("application/json", "application/x-www-form-urlencoded")
            )
        return self._event(capture, "captured", request_id, now, request=request)

    def _finish_replay(
        self, capture: _Capture, pending: _Replay, now: datetime
    ) -> DemoEvent:
        rng = self._rng
        capture.replay = None
        replay = self._replay_record(pending)
        if rng.random() < 0.85:
            action = "replay.completed"
            replay["status_code"] = rng.choice((200, 200, 200, 201, 204, 404, 500))
            replay["duration_ms"] = round(rng.lognormvariate(4.5, 0.6), 1)
        else:
            action = "replay.failed"
            replay["error"] = rng.choice(_REPLAY_ERRORS)
            replay["duration_ms"] = round(rng.uniform(2, 10_000), 1)
        return self._event(capture, action, pending.request_id, now, replay=replay)

    @staticmethod
    def _replay_record(replay: _Replay) -> dict[str, Any]:
        return {"replay_id": replay.replay_id, "target_url": replay.target_url}

    def _event(
        self,
        capture: _Capture,
        action: str,
        request_id: str,
        now: datetime,
        *,
        request: dict[str, Any] | None = None,
        replay: dict[str, Any] | None = None,
    ) -> DemoEvent:
        data: dict[str, Any] = {
            "capture_id": capture.capture_id,
            "action": action,
            "request_id": request_id,
            "ts": _iso(now),
        }
        scopes = {"captureId": capture.capture_id}
        if capture.payload_id is not None:
            data["payload_id"] = capture.payload_id
            scopes["payloadId"] = capture.payload_id
        if request is not None:
            data["request"] = request
        if replay is not None:
            data["replay"] = replay
        return DemoEvent(self.topic, capture.capture_id, scopes, data)


# -- retrylab.stats ------------------------------------------------------------

# (name, failure mode, failure rate, strategy, base delay ms, max attempts)
_SCENARIOS = (
    ("checkout-503-burst", "http_503", 0.30, "exponential_jitter", 100, 5),
    ("webhook-timeouts", "timeout", 0.15, "exponential", 250, 4),
    ("rate-limited-api", "http_429", 0.40, "fixed", 1000, 6),
    ("flaky-upstream", "connection_reset", 0.10, "linear", 50, 3),
    ("gateway-502", "http_502", 0.05, "exponential", 200, 3),
)
# How long a timed-out attempt takes, in milliseconds.
_ATTEMPT_TIMEOUT_MS = 2000.0
# Seconds of traffic one stats update summarises.
_STATS_WINDOW_S = 5.0


@dataclass(slots=True)
class _Scenario:
    scenario_id: str
    name: str
    failure_mode: str
    failure_rate: float
    strategy: str
    base_delay_ms: int
    max_attempts: int
    started_at: datetime
    running: bool = True
    requests: int = 0
    attempts: int = 0
    succeeded: int = 0
    gave_up: int = 0
    rps: float = 0.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=500))


class _RetryLab:
    """Retry scenarios: injected failures against a client's retry policy."""

    topic = "retrylab.stats"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._scenarios = [
            _Scenario(_new_id(rng, "rs_"), *spec, started_at=_ago(rng, _utcnow(), 6))
            for spec in _SCENARIOS
        ]

    def ids(self) -> list[str]:
        return [s.scenario_id for s in self._scenarios]

    def announce(self, now: datetime) -> Iterator[DemoEvent]:
        for scenario in self._scenarios:
            yield self._event(scenario, now)

    def step(self, now: datetime) -> DemoEvent:
        rng = self._rng
        scenario = rng.choice(self._scenarios)
        if not scenario.running:
            scenario.running = rng.random() < 0.5
            scenario.rps = 0.0
        elif rng.random() < 0.03:
            scenario.running = False
            scenario.rps = 0.0
        else:
            self._run_window(scenario)
        return self._event(scenario, now)

    def _run_window(self, scenario: _Scenario) -> None:
        # Simulate every request of the window: attempts until one succeeds or
        # the policy gives up, with the policy's backoff between attempts.
        rng = self._rng
        count = rng.randint(5, 60)
        for _ in range(count):
            latency = 0.0
            for attempt in range(1, scenario.max_attempts + 1):
                scenario.attempts += 1
                failed = rng.random() < scenario.failure_rate
                if failed and scenario.failure_mode == "timeout":
                    latency += _ATTEMPT_TIMEOUT_MS
                else:
                    latency += rng.lognormvariate(3.5, 0.5)
                if not failed:
                    scenario.succeeded += 1
                    break
                if attempt == scenario.max_attempts:
                    scenario.gave_up += 1
                else:
                    latency += self._backoff_ms(scenario, attempt)
            scenario.requests += 1
            scenario.latencies.append(latency)
        scenario.rps = round(count / _STATS_WINDOW_S, 2)

    def _backoff_ms(self, scenario: _Scenario, attempt: int) -> float:
        base = float(scenario.base_delay_ms)
        if scenario.strategy == "fixed":
            return base
        if scenario.strategy == "linear":
            return base * attempt
        ceiling = base * 2.0 ** (attempt - 1)
        if scenario.strategy == "exponential":
            return ceiling
        return self._rng.uniform(0, ceiling)

    def _event(self, scenario: _Scenario, now: datetime) -> DemoEvent:
        ordered = sorted(scenario.latencies)

        def percentile(share: float) -> float:
            if not ordered:
                return 0.0
            return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)

        success_rate = (
            scenario.succeeded / scenario.requests if scenario.requests else 1.0
        )
        data: dict[str, Any] = {
            "scenario_id": scenario.scenario_id,
            "name": scenario.name,
            "status": "running" if scenario.running else "paused",
            "failure_mode": scenario.failure_mode,
            "failure_rate": scenario.failure_rate,
            "policy": {
                "strategy": scenario.strategy,
                "base_delay_ms": scenario.base_delay_ms,
                "max_attempts": scenario.max_attempts,
            },
            "requests": scenario.requests,
            "attempts": scenario.attempts,
            "retries": scenario.attempts - scenario.requests,
            "succeeded": scenario.succeeded,
            "gave_up": scenario.gave_up,
            "success_rate": round(success_rate, 4),
            "rps": scenario.rps,
            "latency_ms": {
                "p50": percentile(0.50),
                "p95": percentile(0.95),
                "p99": percentile(0.99),
            },
            "started_at": _iso(scenario.started_at),
            "updated_at": _iso(now),
        }
        return DemoEvent(
            self.topic,
            scenario.scenario_id,
            {"scenarioId": scenario.scenario_id},
            data,
        )


# -- scanner.jobs --------------------------------------------------------------

_SCANNERS = ("headers", "tls", "redirects", "unfurl")
_SCAN_TARGETS = (
    "https://shop.example.com/",
    "https://docs.example.org/pricing",
    "https://status.example.net/",
    "https://blog.example.com/2024/launch",
    "https://api.example.com/v2/health",
    "https://cdn.example.org/assets/og-card.png",
    "https://example.com/login",
    "https://news.example.net/feed.xml",
)
_SCAN_ERRORS = (
    "target answered 503 on every attempt",
    "DNS lookup failed",
    "scan exceeded its 120s budget",
    "TLS handshake failed: unknown certificate authority",
)


@dataclass(slots=True)
class _Job:
    job_id: str
    scanner_id: str
    target: str
    queued_at: datetime
    status: str = "queued"
    run: int = 1
    progress: float = 0.0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    findings: int | None = None
    diff: dict[str, int] | None = None
    error: str | None = None
    # Findings and run number of the last completed run: the diff baseline.
    baseline: tuple[int, int] | None = None


class _ScannerLab:
    """Scanner jobs going queued -> running -> completed or failed, and again."""

    topic = "scanner.jobs"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._jobs = [
            _Job(
                job_id=_new_id(rng, "job_"),
                scanner_id=rng.choice(_SCANNERS),
                target=target,
                queued_at=_ago(rng, _utcnow(), 0.5),
            )
            for target in _SCAN_TARGETS
        ]

    def ids(self) -> list[str]:
        return [j.job_id for j in self._jobs]

    def announce(self, now: datetime) -> Iterator[DemoEvent]:
        for job in self._jobs:
            yield self._event(job, now)

    def step(self, now: datetime) -> DemoEvent:
        rng = self._rng
        job = rng.choice(self._jobs)
        if job.status == "queued":
            job.status = "running"
            job.progress = 0.0
            job.started_at = now
        elif job.status == "running" and rng.random() < 0.04:
            self._fail(job, now)
        elif job.status == "running":
            job.progress = min(1.0, job.progress + rng.uniform(0.15, 0.45))
            if job.progress >= 1.0:
                self._complete(job, now)
        else:
            job.status = "queued"
            job.run += 1
            job.queued_at = now
            job.progress = 0.0
            job.started_at = job.finished_at = None
            job.findings = job.diff = job.error = None
        return self._event(job, now)

    def _fail(self, job: _Job, now: datetime) -> None:
        job.status = "failed"
        job.finished_at = now
        job.error = self._rng.choice(_SCAN_ERRORS)

    def _complete(self, job: _Job, now: datetime) -> None:
        rng = self._rng
        job.status = "completed"
        job.finished_at = now
        if job.baseline is None:
            job.findings = rng.randint(0, 12)
        else:
            # Most runs find what the last one found; some drift.
            before, baseline_run = job.baseline
            added = rng.choices((0, 1, 2, 4), (70, 18, 8, 4))[0]
            removed = min(before, rng.choices((0, 1, 2), (75, 18, 7))[0])
            changed = rng.choices((0, 1, 3), (80, 15, 5))[0]
            job.findings = before + added - removed
            job.diff = {
                "baseline_run": baseline_run,
                "added": added,
                "removed": removed,
                "changed": min(changed, job.findings),
            }
        job.baseline = (job.findings, job.run)

    def _event(self, job: _Job, now: datetime) -> DemoEvent:
        data: dict[str, Any] = {
            "job_id": job.job_id,
            "scanner_id": job.scanner_id,
            "target": job.target,
            "status": job.status,
            "run": job.run,
            "queued_at": _iso(job.queued_at),
            "updated_at": _iso(now),
        }
        if job.started_at is not None:
            data["started_at"] = _iso(job.started_at)
            data["progress"] = round(job.progress, 3)
        if job.started_at is not None and job.finished_at is not None:
            data["finished_at"] = _iso(job.finished_at)
            duration = (job.finished_at - job.started_at).total_seconds()
            data["duration_s"] = round(duration, 3)
        if job.findings is not None:
            data["findings"] = job.findings
        if job.diff is not None:
            data["diff"] = job.diff
        if job.error is not None:
            data["error"] = job.error
        scopes = {"jobId": job.job_id, "scannerId": job.scanner_id}
        return DemoEvent(self.topic, job.job_id, scopes, data)


# -- tunnel.status -------------------------------------------------------------

_NAMED_TUNNELS = (
    ("capture-lab", "capture.lab.example.com"),
    ("payload-cdn", "payloads.lab.example.com"),
    ("retry-lab", "retry.lab.example.com"),
)
_QUICK_TUNNELS = ("dev-laptop", "scanner-worker")
_QUICK_WORDS = (
    "amber", "basin", "cedar", "delta", "ember", "fjord", "glade", "harbor",
    "indigo", "juniper", "kestrel", "lumen", "meadow", "nimbus", "orchid",
    "prairie", "quartz", "ridge", "sierra", "tundra",
)  # fmt: skip
_COLOS = ("fra08", "ams16", "lhr01", "cdg03", "iad03", "sjc05", "nrt01", "sin02")
_CLOUDFLARED_VERSIONS = ("2024.8.2", "2024.9.1", "2024.10.0", "2024.11.1")
_RESTART_REASONS = (
    "process exited with status 1",
    "config reloaded",
    "host rebooted",
    "connection to the edge lost for 30s",
)
_HEALTHY_CONNECTIONS = 4


@dataclass(slots=True)
class _Tunnel:
    tunnel_id: str
    name: str
    mode: str
    hostname: str
    version: str
    started_at: datetime
    colos: list[str]
    status: str = "healthy"
    connections: int = _HEALTHY_CONNECTIONS
    restarts: int = 0
    last_restart_reason: str | None = None
    last_heartbeat: datetime | None = None


class _TunnelLab:
    """cloudflared tunnels: heartbeats, lost connections and restarts."""

    topic = "tunnel.status"

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        now = _utcnow()
        named = [(name, host, "named") for name, host in _NAMED_TUNNELS]
        quick = [(name, self._quick_hostname(), "quick") for name in _QUICK_TUNNELS]
        self._tunnels = [
            _Tunnel(
                tunnel_id=_new_id(rng, "tun_"),
                name=name,
                mode=mode,
                hostname=hostname,
                version=rng.choice(_CLOUDFLARED_VERSIONS),
                started_at=_ago(rng, now, 72),
                colos=self._pick_colos(),
                restarts=rng.randint(0, 4),
            )
            for name, hostname, mode in named + quick
        ]

    def ids(self) -> list[str]:
        return [t.tunnel_id for t in self._tunnels]

    def announce(self, now: datetime) -> Iterator[DemoEvent]:
        for tunnel in self._tunnels:
            tunnel.last_heartbeat = now
            yield self._event(tunnel, "heartbeat", now)

    def step(self, now: datetime) -> DemoEvent:
        rng = self._rng
        tunnel = rng.choice(self._tunnels)
        if tunnel.status in ("reconnecting", "down") or (
            tunnel.status == "degraded" and rng.random() < 0.5
        ):
            return self._recover(tunnel, now)

        roll = rng.random()
        if roll < 0.02:
            return self._restart(tunnel, now)
        if roll < 0.03:
            tunnel.status = "down"
            tunnel.connections = 0
            tunnel.colos = []
            return self._event(tunnel, "down", now)
        if roll < 0.09:
            # Each degradation loses at least one more connection, down to one.
            tunnel.status = "degraded"
            tunnel.connections = rng.randint(1, max(1, tunnel.connections - 1))
            tunnel.colos = tunnel.colos[: tunnel.connections]
            tunnel.last_heartbeat = now
            return self._event(tunnel, "degraded", now)
        tunnel.last_heartbeat = now
        return self._event(tunnel, "heartbeat", now)

    def _recover(self, tunnel: _Tunnel, now: datetime) -> DemoEvent:
        tunnel.status = "healthy"
        tunnel.connections = _HEALTHY_CONNECTIONS
        tunnel.colos = self._pick_colos()
        tunnel.last_heartbeat = now
        return self._event(tunnel, "recovered", now)

    def _restart(self, tunnel: _Tunnel, now: datetime) -> DemoEvent:
        rng = self._rng
        tunnel.status = "reconnecting"
        tunnel.connections = 0
        tunnel.colos = []
        tunnel.restarts += 1
        tunnel.last_restart_reason = rng.choice(_RESTART_REASONS)
        tunnel.started_at = now
        if rng.random() < 0.2:
            tunnel.version = rng.choice(_CLOUDFLARED_VERSIONS)
        # A quick tunnel gets a new random hostname from every process start.
        if tunnel.mode == "quick":
            tunnel.hostname = self._quick_hostname()
        return self._event(tunnel, "restarted", now)

    def _quick_hostname(self) -> str:
        words = self._rng.sample(_QUICK_WORDS, 4)
        return "-".join(words) + ".trycloudflare.com"

    def _pick_colos(self) -> list[str]:
        # cloudflared spreads its connections over two nearby data centres.
        first, second = self._rng.sample(_COLOS, 2)
        return [first, second, first, second]

    def _event(self, tunnel: _Tunnel, change: str, now: datetime) -> DemoEvent:
        data: dict[str, Any] = {
            "tunnel_id": tunnel.tunnel_id,
            "name": tunnel.name,
            "mode": tunnel.mode,
            "hostname": tunnel.hostname,
            "status": tunnel.status,
            "connections": tunnel.connections,
            "colos": list(tunnel.colos),
            "restarts": tunnel.restarts,
            "version": tunnel.version,
            "started_at": _iso(tunnel.started_at),
            "uptime_s": round((now - tunnel.started_at).total_seconds(), 3),
            "change": change,
            "updated_at": _iso(now),
        }
        if tunnel.last_heartbeat is not None:
            data["last_heartbeat"] = _iso(tunnel.last_heartbeat)
        if tunnel.last_restart_reason is not None:
            data["last_restart_reason"] = tunnel.last_restart_reason
        scopes = {"tunnelId": tunnel.tunnel_id, "hostname": tunnel.hostname}
        return DemoEvent(self.topic, tunnel.tunnel_id, scopes, data)


# -- log.event -----------------------------------------------------------------

# Kinds the demo writes. The edge's own kinds (connect, disconnect, config,
# session.*, auth.failed) are left to the edge, so the demo never fakes them.
_AUDIT_KINDS = ("auth.login", "auth.logout", "user.action", "config.changed")
_AUDIT_WEIGHTS = (35, 20, 30, 15)
_BROWSER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
)
_LOGOUT_REASONS = ("signed out", "session expired", "signed out on another device")
_SETTING_CHOICES: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("payload.max_upload_mb", (25, 50, 100)),
    ("capture.retention_days", (7, 14, 30)),
    ("retrylab.default_max_attempts", (3, 4, 5, 6)),
    ("scanner.schedule_minutes", (15, 30, 60)),
    ("tunnel.auto_restart", (True, False)),
)


class _AuditTrail:
    """Audit records of the LinkPeek app: sign-ins, user actions, settings."""

    topic = "log.event"

    def __init__(self, rng: random.Random, targets: dict[str, list[str]]) -> None:
        self._rng = rng
        self._targets = targets

    def announce(self, now: datetime) -> Iterator[DemoEvent]:
        return iter(())

    def step(self, now: datetime) -> DemoEvent:
        rng = self._rng
        (kind,) = rng.choices(_AUDIT_KINDS, _AUDIT_WEIGHTS)
        user = rng.choice(_USERS)
        data: dict[str, Any] = {"kind": kind, "ts": _iso(now), "subject": user}
        if kind == "auth.login":
            data["remote"] = _remote(rng)
            data["user_agent"] = rng.choice(_BROWSER_AGENTS)
        elif kind == "auth.logout":
            data["reason"] = rng.choice(_LOGOUT_REASONS)
        elif kind == "user.action":
            action = rng.choice(sorted(self._targets))
            data["action"] = action
            data["target"] = rng.choice(self._targets[action])
        else:
            key, values = rng.choice(_SETTING_CHOICES)
            data["settings"] = {key: rng.choice(values)}
        return DemoEvent(self.topic, None, {"kind": kind, "subject": user}, data)
