"""The edge's metric series, named by Prometheus conventions (SPEC section 8)."""

from __future__ import annotations

from .metrics import Registry


class EdgeMetrics:
    def __init__(self) -> None:
        registry = self.registry = Registry()
        self.connections = registry.gauge(
            "realtime_connections", "Open WebSocket connections."
        )
        self.subscriptions = registry.gauge(
            "realtime_subscriptions", "Topic subscriptions held.", ["topic"]
        )
        self.messages_in = registry.counter(
            "realtime_messages_in_total", "Stream messages received.", ["topic"]
        )
        self.events_out = registry.counter(
            "realtime_events_out_total", "Event frames queued to clients.", ["topic"]
        )
        self.filtered_out = registry.counter(
            "realtime_events_filtered_total",
            "Subscriptions of a topic a message skipped because of scopes.",
            ["topic"],
        )
        self.dropped = registry.counter(
            "realtime_messages_dropped_total",
            "Messages not forwarded because the payload is not a JSON object.",
            ["topic"],
        )
        self.disconnects = registry.counter(
            "realtime_disconnects_total", "Closed connections by close code.", ["code"]
        )
        self.slow_consumers = registry.counter(
            "realtime_slow_consumer_closes_total",
            "Connections closed because their send queue overflowed.",
        )
        self.auth_failures = registry.counter(
            "realtime_auth_failures_total", "Connections refused for their token."
        )
        self.nats_reconnects = registry.counter(
            "realtime_nats_reconnects_total", "Reconnections to NATS."
        )
        self.fanout_seconds = registry.histogram(
            "realtime_fanout_seconds",
            "Time to route one message to every matching connection.",
            ["topic"],
            buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1),
        )
        self.snapshot_seconds = registry.histogram(
            "realtime_snapshot_seconds",
            "Time to read a topic's snapshot or position from its stream.",
            ["topic"],
        )
