"""OpenTelemetry tracing of the edge (SPEC section 8).

Configured by the standard ``OTEL_*`` variables, which the SDK reads itself:
service name, sampler, exporter endpoint and headers. Export is OTLP over HTTP.
With no endpoint set, or ``OTEL_SDK_DISABLED=true``, :func:`setup` returns a
:class:`Tracing` whose ``tracer`` is None and nothing creates spans at all, so
the fan-out path pays one ``is None`` test per message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "realtime-edge"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_propagator = TraceContextTextMapPropagator()


class Tracing:
    """The edge's tracer, or none. Spans go through the helpers below so that
    a disabled tracer costs nothing beyond the check."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self._provider = provider
        self.tracer: Tracer | None = (
            provider.get_tracer("bridge") if provider is not None else None
        )

    @contextmanager
    def span(
        self,
        name: str,
        kind: SpanKind = SpanKind.INTERNAL,
        parent: Context | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Iterator[trace.Span | None]:
        """A span around the block (``None`` inside when tracing is off);
        an exception marks it as an error."""
        if self.tracer is None:
            yield None
            return
        with self.tracer.start_as_current_span(
            name, context=parent, kind=kind, attributes=attributes
        ) as span:
            try:
                yield span
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    def shutdown(self) -> None:
        """Export what is pending and stop; later spans are not recorded."""
        provider, self._provider = self._provider, None
        self.tracer = None
        if provider is not None:
            provider.shutdown()


def parent_of(headers: Mapping[str, str] | None) -> Context | None:
    """The producer's span context from ``traceparent``/``tracestate`` headers."""
    if not headers or "traceparent" not in headers:
        return None
    return _propagator.extract(carrier=headers)


def setup(env: Mapping[str, str], service: str = DEFAULT_SERVICE) -> Tracing:
    """Tracing as the ``OTEL_*`` variables in ``env`` ask; ``service`` names the
    process when OTEL_SERVICE_NAME does not."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Tracing(None)
    if not any(env.get(name) for name in _ENDPOINTS):
        return Tracing(None)
    # Imported here: the exporter pulls in protobuf and an HTTP client, which an
    # edge without tracing never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    log.info("tracing to otlp", extra={"url": _endpoint(env)})
    return Tracing(provider)


def _endpoint(env: Mapping[str, str]) -> str:
    for name in _ENDPOINTS:
        if env.get(name):
            return env[name]
    return ""


class TraceIdFilter(logging.Filter):
    """Adds ``trace_id`` to records written inside a sampled span."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
        return True
