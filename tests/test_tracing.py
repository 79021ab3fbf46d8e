"""Fan-out, subscribe and session spans exported over OTLP/HTTP (SPEC section 8)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from bridge.logs import FieldFormatter
from bridge.tracing import TraceIdFilter

from .otlp import attributes, otlp_receiver
from .support import WsClient, mint_token, publish, session_token


async def test_fanout_span_continues_the_producers_trace(
    make_edge, producer, prefix, monkeypatch
):
    async with otlp_receiver() as (receiver, endpoint):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "edge-under-test")
        edge = await make_edge(REALTIME_API_KEYS="trace-key")
        assert edge.tracing.tracer is not None

        # A session over the API, then two clients: one scoped away.
        token = await session_token(edge, "trace-key", subject="tracer")
        watching = await WsClient.open(edge, token)
        elsewhere = await WsClient.open(edge, token)
        await watching.subscribe("payload.list")
        await elsewhere.subscribe("payload.list", scopes={"payloadId": "other"})

        # The producer traces its publish and sends the context along.
        tracer = TracerProvider().get_tracer("producer")
        headers: dict[str, str] = {}
        with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as parent:
            TraceContextTextMapPropagator().inject(headers)
            await publish(
                producer, prefix, "payload.list.p1", {"n": 1}, payloadId="p1", **headers
            )
        producer_context = parent.get_span_context()
        (event,) = await watching.events(1)

        fanout = await receiver.span("fanout payload.list")
        assert fanout.trace_id == producer_context.trace_id.to_bytes(16, "big")
        assert fanout.parent_span_id == producer_context.span_id.to_bytes(8, "big")
        assert fanout.kind == Span.SPAN_KIND_CONSUMER
        found = attributes(fanout)
        assert found["messaging.system"] == "nats"
        assert found["messaging.destination.name"] == f"{prefix}.payload.list.p1"
        assert found["messaging.message.body.size"] == len(b'{"n": 1}')
        assert found["realtime.recipients"] == 1
        assert found["realtime.filtered_out"] == 1
        assert found["realtime.seq"] == event["seq"]

        subscribe = await receiver.span("subscribe payload.list")
        read = await receiver.span("snapshot read payload.list")
        assert read.trace_id == subscribe.trace_id
        assert read.parent_span_id in {
            s.span_id for s in receiver.spans if s.name == "subscribe payload.list"
        }
        session = await receiver.span("POST /session")
        assert session.kind == Span.SPAN_KIND_SERVER
        assert attributes(session)["http.response.status_code"] == 201
        assert "edge-under-test" in receiver.services
        await watching.close()
        await elsewhere.close()
        await edge.stop()  # while the receiver still takes the last export


async def test_without_an_endpoint_nothing_is_traced(edge):
    assert edge.tracing.tracer is None


def test_log_lines_inside_a_span_carry_its_trace_id():
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord(
        "bridge.test", logging.WARNING, __file__, 1, "x", (), None
    )
    with tracer.start_as_current_span("work") as span:
        TraceIdFilter().filter(record)
    line = FieldFormatter().format(record)
    assert f"trace_id={span.get_span_context().trace_id:032x}" in line

    outside = logging.LogRecord(
        "bridge.test", logging.WARNING, __file__, 1, "x", (), None
    )
    TraceIdFilter().filter(outside)
    assert "trace_id" not in FieldFormatter().format(outside)


async def test_demo_traffic_shows_producer_and_fanout_in_one_trace(
    make_edge, nats_url, prefix, monkeypatch
):
    async with otlp_receiver() as (receiver, endpoint):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        edge = await make_edge()
        client = await WsClient.open(edge, await mint_token(edge))
        await client.subscribe("tunnel.status")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALTIME_")}
        env.update(NATS_URL=nats_url, REALTIME_SUBJECT_PREFIX=prefix)
        env.pop("OTEL_SERVICE_NAME", None)
        demo = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bridge",
            "demo",
            "--rate",
            "100",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            await client.events(3, timeout=15)
        finally:
            demo.send_signal(signal.SIGINT)
            await asyncio.wait_for(demo.wait(), 15)

        fanout = await receiver.span("fanout tunnel.status")
        publish_span = await receiver.span("publish tunnel.status")
        by_trace = {
            s.trace_id for s in receiver.spans if s.name == "publish tunnel.status"
        }
        assert fanout.trace_id in by_trace
        assert publish_span.kind == Span.SPAN_KIND_PRODUCER
        assert {"realtime-demo", "realtime-edge"} <= receiver.services
        await client.close()
        await edge.stop()  # while the receiver still takes the last export
