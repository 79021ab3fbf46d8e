"""The metrics registry, read back with the reference Prometheus parser."""

from __future__ import annotations

import json
import math

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from bridge.metrics import (
    CONTENT_TYPE,
    DEFAULT_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    Registry,
    Snapshot,
    render_many,
)


def parse(body: bytes) -> dict[str, Metric]:
    """Families by name; the parser drops a counter's ``_total`` from it."""
    return {
        family.name: family
        for family in text_string_to_metric_families(body.decode("utf-8"))
    }


def sample_value(family: Metric, name: str, **labels: str) -> float:
    matches = [s.value for s in family.samples if s.name == name and s.labels == labels]
    assert len(matches) == 1, (name, labels, family.samples)
    return float(matches[0])


def test_content_type_is_text_format_0_0_4() -> None:
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_unlabelled_counter_starts_at_zero_and_counts_up() -> None:
    registry = Registry()
    reconnects = registry.counter("edge_nats_reconnects_total", "NATS reconnects.")
    assert parse(registry.render())["edge_nats_reconnects"].samples[0].value == 0

    reconnects.inc()
    reconnects.inc(2)

    family = parse(registry.render())["edge_nats_reconnects"]
    assert family.type == "counter"
    assert family.documentation == "NATS reconnects."
    assert sample_value(family, "edge_nats_reconnects_total") == 3


def test_labelled_counter_keeps_one_sample_per_label_values() -> None:
    registry = Registry()
    events = registry.counter("edge_events_out_total", "Events out.", ["topic"])
    events.labels(topic="payload.list").inc()
    events.labels("payload.list").inc(4)
    events.labels(topic="tunnel.status").inc()

    family = parse(registry.render())["edge_events_out"]
    assert sample_value(family, "edge_events_out_total", topic="payload.list") == 5
    assert sample_value(family, "edge_events_out_total", topic="tunnel.status") == 1
    assert len(family.samples) == 2


def test_labels_returns_the_same_cached_child() -> None:
    events = Counter("edge_events_out_total", "Events out.", ["topic", "kind"])
    child = events.labels(topic="payload.list", kind="event")
    assert events.labels("payload.list", "event") is child
    assert events.labels(kind="event", topic="payload.list") is child
    assert events.labels(topic="tunnel.status", kind="event") is not child


def test_labels_must_match_the_declared_label_names() -> None:
    events = Counter("edge_events_out_total", "Events out.", ["topic"])
    with pytest.raises(ValueError):
        events.labels(subject="payload.list")
    with pytest.raises(ValueError):
        events.labels("payload.list", "extra")
    with pytest.raises(ValueError):
        events.labels()


def test_labelled_metric_refuses_updates_without_labels() -> None:
    with pytest.raises(ValueError, match=r"\.labels\(\)"):
        Counter("edge_events_out_total", "Events out.", ["topic"]).inc()
    with pytest.raises(ValueError):
        Gauge("edge_subscriptions", "Subscriptions.", ["topic"]).set(1)
    with pytest.raises(ValueError):
        Histogram("edge_fanout_seconds", "Fan-out.", ["topic"]).observe(0.1)


def test_labelled_metric_without_children_renders_only_its_headers() -> None:
    registry = Registry()
    registry.counter("edge_events_out_total", "Events out.", ["topic"])
    assert registry.render() == (
        b"# HELP edge_events_out_total Events out.\n"
        b"# TYPE edge_events_out_total counter\n"
    )


@pytest.mark.parametrize("n", [-1, -0.5, math.nan])
def test_counter_refuses_negative_or_nan_increments(n: float) -> None:
    counter = Counter("edge_messages_in_total", "Messages in.")
    with pytest.raises(ValueError):
        counter.inc(n)
    with pytest.raises(ValueError):
        counter.labels().inc(n)


def test_counter_name_must_end_in_total() -> None:
    with pytest.raises(ValueError, match="_total"):
        Counter("edge_messages_in", "Messages in.")
    with pytest.raises(ValueError, match="_total"):
        Registry().counter("_total", "No base name.")


@pytest.mark.parametrize("name", ["", "1st_metric", "edge-connections", "edge conn"])
def test_invalid_metric_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        Gauge(name, "Bad name.")


@pytest.mark.parametrize(
    "labelnames", [["topic", "topic"], ["1topic"], ["to-pic"], ["__reserved"]]
)
def test_invalid_label_names_are_refused(labelnames: list[str]) -> None:
    with pytest.raises(ValueError):
        Gauge("edge_subscriptions", "Subscriptions.", labelnames)


def test_a_lone_string_as_label_names_is_refused() -> None:
    with pytest.raises(TypeError):
        Gauge("edge_subscriptions", "Subscriptions.", "topic")


def test_registering_the_same_name_twice_is_refused() -> None:
    registry = Registry()
    registry.gauge("edge_connections", "Open connections.")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("edge_connections", "Again.")
    with pytest.raises(ValueError, match="already registered"):
        registry.histogram("edge_connections", "Same name, other kind.")


def test_a_name_clashing_with_histogram_series_is_refused() -> None:
    registry = Registry()
    registry.histogram("edge_fanout_seconds", "Fan-out latency.")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("edge_fanout_seconds_count", "Clashes with _count.")
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("edge_fanout_seconds_bucket", "Clashes with _bucket.")


def test_label_values_are_escaped() -> None:
    registry = Registry()
    counter = registry.counter("edge_weird_total", "Weird labels.", ["topic"])
    nasty = 'back\\slash "quoted"\nnew line'
    counter.labels(topic=nasty).inc()

    body = registry.render()
    assert (
        b'edge_weird_total{topic="back\\\\slash \\"quoted\\"\\nnew line"} 1\n' in body
    )
    family = parse(body)["edge_weird"]
    assert sample_value(family, "edge_weird_total", topic=nasty) == 1


def test_help_text_is_escaped() -> None:
    registry = Registry()
    registry.gauge("edge_connections", 'Open "connections"\nper C:\\edge.')

    body = registry.render()
    assert b'# HELP edge_connections Open "connections"\\nper C:\\\\edge.\n' in body
    family = parse(body)["edge_connections"]
    assert family.documentation == 'Open "connections"\nper C:\\edge.'


def test_gauge_goes_up_down_and_can_be_set() -> None:
    registry = Registry()
    connections = registry.gauge("edge_connections", "Open connections.")
    subscriptions = registry.gauge("edge_subscriptions", "Subscriptions.", ["topic"])
    connections.inc()
    connections.inc(5)
    connections.dec(2)
    payloads = subscriptions.labels(topic="payload.list")
    payloads.set(7)
    payloads.dec()

    families = parse(registry.render())
    assert families["edge_connections"].type == "gauge"
    assert sample_value(families["edge_connections"], "edge_connections") == 4
    assert (
        sample_value(
            families["edge_subscriptions"], "edge_subscriptions", topic="payload.list"
        )
        == 6
    )


def test_gauge_callback_is_evaluated_at_render_time() -> None:
    open_connections: set[int] = {1, 2}
    registry = Registry()
    registry.gauge(
        "edge_connections", "Open connections.", function=lambda: len(open_connections)
    )
    assert (
        sample_value(parse(registry.render())["edge_connections"], "edge_connections")
        == 2
    )

    open_connections.update({3, 4, 5})
    assert (
        sample_value(parse(registry.render())["edge_connections"], "edge_connections")
        == 5
    )


def test_gauge_with_callback_refuses_direct_updates_and_labels() -> None:
    gauge = Gauge("edge_connections", "Open connections.", function=lambda: 1)
    with pytest.raises(ValueError):
        gauge.set(3)
    with pytest.raises(ValueError):
        gauge.inc()
    with pytest.raises(ValueError):
        gauge.labels()
    with pytest.raises(ValueError):
        Gauge("edge_subscriptions", "Subs.", ["topic"], function=lambda: 1)


def test_values_render_as_prometheus_spells_them() -> None:
    registry = Registry()
    whole = registry.gauge("g_whole", "Whole.")
    fraction = registry.gauge("g_fraction", "Fraction.")
    inf = registry.gauge("g_inf", "Infinite.")
    minus_inf = registry.gauge("g_minus_inf", "Minus infinite.")
    nan = registry.gauge("g_nan", "Not a number.")
    whole.set(3.0)
    fraction.set(0.25)
    inf.set(math.inf)
    minus_inf.set(-math.inf)
    nan.set(math.nan)

    lines = registry.render().decode().splitlines()
    assert "g_whole 3" in lines
    assert "g_fraction 0.25" in lines
    assert "g_inf +Inf" in lines
    assert "g_minus_inf -Inf" in lines
    assert "g_nan NaN" in lines
    families = parse(registry.render())
    assert math.isnan(sample_value(families["g_nan"], "g_nan"))
    assert sample_value(families["g_minus_inf"], "g_minus_inf") == -math.inf


def test_histogram_buckets_are_cumulative() -> None:
    registry = Registry()
    fanout = registry.histogram(
        "edge_fanout_seconds", "Fan-out latency.", buckets=[0.001, 0.01, 0.1]
    )
    for seconds in (0.0005, 0.002, 0.003, 0.05, 0.5, 2.0):
        fanout.observe(seconds)

    family = parse(registry.render())["edge_fanout_seconds"]
    assert family.type == "histogram"
    buckets = {
        s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")
    }
    assert buckets == {"0.001": 1, "0.01": 3, "0.1": 4, "+Inf": 6}
    assert sample_value(family, "edge_fanout_seconds_count") == 6
    assert sample_value(family, "edge_fanout_seconds_sum") == pytest.approx(2.5555)


def test_histogram_observation_on_a_bound_counts_in_that_bucket() -> None:
    registry = Registry()
    histogram = registry.histogram("h_seconds", "Bounds.", buckets=[1, 2])
    histogram.observe(1)
    histogram.observe(2)

    lines = registry.render().decode().splitlines()
    assert 'h_seconds_bucket{le="1"} 1' in lines
    assert 'h_seconds_bucket{le="2"} 2' in lines
    assert 'h_seconds_bucket{le="+Inf"} 2' in lines


def test_histogram_counts_nan_only_in_the_inf_bucket() -> None:
    histogram = Histogram("h_seconds", "NaN.", buckets=[1])
    child = histogram.labels()
    child.observe(math.nan)
    assert child.counts == [0, 1]
    assert math.isnan(child.sum)


def test_labelled_histogram_puts_le_after_its_labels() -> None:
    registry = Registry()
    snapshot_latency = registry.histogram(
        "edge_snapshot_seconds", "Snapshot latency.", ["topic"], buckets=[0.5]
    )
    snapshot_latency.labels(topic="payload.list").observe(0.25)

    body = registry.render().decode()
    assert 'edge_snapshot_seconds_bucket{topic="payload.list",le="0.5"} 1\n' in body
    assert 'edge_snapshot_seconds_sum{topic="payload.list"} 0.25\n' in body
    assert 'edge_snapshot_seconds_count{topic="payload.list"} 1\n' in body
    family = parse(body.encode())["edge_snapshot_seconds"]
    assert (
        sample_value(
            family, "edge_snapshot_seconds_bucket", topic="payload.list", le="+Inf"
        )
        == 1
    )


def test_default_buckets_span_100_microseconds_to_10_seconds() -> None:
    histogram = Histogram("edge_fanout_seconds", "Fan-out latency.")
    assert histogram.buckets == DEFAULT_BUCKETS
    assert DEFAULT_BUCKETS[0] == 0.0001
    assert DEFAULT_BUCKETS[-1] == 10.0
    assert list(DEFAULT_BUCKETS) == sorted(set(DEFAULT_BUCKETS))


def test_trailing_inf_bucket_is_accepted_and_not_doubled() -> None:
    registry = Registry()
    registry.histogram("h_seconds", "Inf given.", buckets=[1, math.inf]).observe(5)
    lines = registry.render().decode().splitlines()
    assert [line for line in lines if "+Inf" in line] == [
        'h_seconds_bucket{le="+Inf"} 1'
    ]


@pytest.mark.parametrize(
    "buckets", [[], [math.inf], [0.1, 0.1], [1, 0.5], [math.nan, 1], [0.1, math.inf, 1]]
)
def test_histogram_refuses_buckets_that_do_not_increase(buckets: list[float]) -> None:
    with pytest.raises(ValueError):
        Histogram("h_seconds", "Bad buckets.", buckets=buckets)


def test_histogram_refuses_an_le_label() -> None:
    with pytest.raises(ValueError, match="le"):
        Histogram("h_seconds", "Bad label.", ["le"])


def test_metrics_render_in_registration_order() -> None:
    registry = Registry()
    registry.gauge("b_gauge", "Second name, first registered.")
    registry.counter("a_total", "First name, second registered.")
    assert list(parse(registry.render())) == ["b_gauge", "a"]


def _worker_registry(
    connections: int, events: dict[str, int], latencies: list[float]
) -> Registry:
    registry = Registry()
    registry.gauge("edge_connections", "Open connections.").set(connections)
    out = registry.counter("edge_events_out_total", "Events out.", ["topic"])
    for topic, n in events.items():
        out.labels(topic=topic).inc(n)
    fanout = registry.histogram(
        "edge_fanout_seconds", "Fan-out latency.", buckets=[0.01, 0.1]
    )
    for seconds in latencies:
        fanout.observe(seconds)
    return registry


def test_render_many_sums_two_snapshots() -> None:
    first = _worker_registry(3, {"payload.list": 2}, [0.005, 0.05])
    second = _worker_registry(4, {"payload.list": 5, "tunnel.status": 1}, [0.5])
    # Snapshots cross a process boundary as JSON.
    snapshots: list[Snapshot] = [
        json.loads(json.dumps(registry.snapshot())) for registry in (first, second)
    ]

    families = parse(render_many(snapshots))

    assert sample_value(families["edge_connections"], "edge_connections") == 7
    events = families["edge_events_out"]
    assert sample_value(events, "edge_events_out_total", topic="payload.list") == 7
    assert sample_value(events, "edge_events_out_total", topic="tunnel.status") == 1
    fanout = families["edge_fanout_seconds"]
    assert sample_value(fanout, "edge_fanout_seconds_bucket", le="0.01") == 1
    assert sample_value(fanout, "edge_fanout_seconds_bucket", le="0.1") == 2
    assert sample_value(fanout, "edge_fanout_seconds_bucket", le="+Inf") == 3
    assert sample_value(fanout, "edge_fanout_seconds_count") == 3
    assert sample_value(fanout, "edge_fanout_seconds_sum") == pytest.approx(0.555)


def test_render_of_one_registry_equals_render_many_of_its_snapshot() -> None:
    registry = _worker_registry(1, {"payload.list": 1}, [0.02])
    assert registry.render() == render_many([registry.snapshot()])


def test_render_many_refuses_snapshots_that_disagree() -> None:
    counter = Registry()
    counter.counter("edge_thing_total", "As a counter.")
    gauge = Registry()
    gauge.gauge("edge_thing_total", "As a gauge.")
    with pytest.raises(ValueError, match="disagree"):
        render_many([counter.snapshot(), gauge.snapshot()])

    coarse = Registry()
    coarse.histogram("h_seconds", "Coarse.", buckets=[1])
    fine = Registry()
    fine.histogram("h_seconds", "Fine.", buckets=[0.5, 1])
    with pytest.raises(ValueError, match="disagree"):
        render_many([coarse.snapshot(), fine.snapshot()])


def test_render_many_of_nothing_is_empty() -> None:
    assert render_many([]) == b""
