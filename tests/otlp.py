"""A real OTLP/HTTP trace receiver: decodes the protobuf export requests that
the edge's exporter sends, as a collector or Jaeger would."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bridge.natsserver import free_port


class Receiver:
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.services: set[str] = set()
        self.arrived = asyncio.Event()

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    self.services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        self.arrived.set()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def span(self, name: str, timeout: float = 10.0, **match: object) -> Span:
        """The first span called ``name`` whose attributes include ``match``."""
        async with asyncio.timeout(timeout):
            while True:
                for span in self.spans:
                    if span.name == name and all(
                        attributes(span).get(k) == v for k, v in match.items()
                    ):
                        return span
                self.arrived.clear()
                await self.arrived.wait()


def attributes(span: Span) -> dict[str, object]:
    found: dict[str, object] = {}
    for attribute in span.attributes:
        value = attribute.value
        kind = value.WhichOneof("value")
        found[attribute.key] = getattr(value, kind) if kind else None
    return found


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[tuple[Receiver, str]]:
    """Yields the receiver and its endpoint URL (``http://127.0.0.1:<port>``)."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver._traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
