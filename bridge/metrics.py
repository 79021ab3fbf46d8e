"""Counters, gauges and histograms for ``/metrics``, in Prometheus text format.

The edge keeps a handful of metrics (connections, subscriptions per topic,
messages in, events out, fan-out latency, ...) and has no runtime dependency
on a Prometheus client library, so this module is the whole of it: a
:class:`Registry` that owns metrics and renders them in the text exposition
format 0.0.4, served with :data:`CONTENT_TYPE`.

Example::

    registry = Registry()
    events_out = registry.counter(
        "realtime_events_out_total", "Events written to clients.", ["topic"]
    )
    fanout = registry.histogram("realtime_fanout_seconds", "Fan-out latency.")

    payloads_out = events_out.labels(topic="payload.list")  # keep the child
    payloads_out.inc()
    fanout.observe(0.0042)

    body = registry.render()

A labelled metric hands out one child per tuple of label values and caches
it, so a hot path looks the child up once and then only calls ``inc`` or
``observe`` on it.

For several worker processes behind one port, each worker sends
:meth:`Registry.snapshot` (plain lists, dicts, strings and numbers) to the one
that answers ``/metrics``, which calls :func:`render_many`.

Nothing here is thread-safe: every process runs a single asyncio loop, and
updates happen on it. The module holds no mutable state; the edge builds its
own :class:`Registry`.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import ClassVar, Final, Generic, Literal, TypedDict, TypeVar

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "Counter",
    "CounterChild",
    "Family",
    "Gauge",
    "GaugeChild",
    "Histogram",
    "HistogramChild",
    "Kind",
    "Registry",
    "Sample",
    "Snapshot",
    "render_many",
]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

# Latencies in seconds, from 100 µs to 10 s in 1 / 2.5 / 5 steps.
DEFAULT_BUCKETS: Final[tuple[float, ...]] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

_METRIC_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Kind = Literal["counter", "gauge", "histogram"]


# -- snapshot structure --------------------------------------------------------


class Sample(TypedDict):
    """The current value of one child of a metric."""

    labels: list[str]
    """Label values, in the order of the family's ``labelnames``."""
    value: float
    """Counter or gauge value; for a histogram, the sum of observations."""
    counts: list[int]
    """Histogram only (else empty): observations per bucket, not cumulative,
    one per bound in ``buckets`` and a last one for those above the highest."""


class Family(TypedDict):
    """One metric and all its children."""

    name: str
    type: Kind
    help: str
    labelnames: list[str]
    buckets: list[float]
    """Histogram only (else empty): upper bounds, without ``+Inf``."""
    samples: list[Sample]


class Snapshot(TypedDict):
    """Everything a :class:`Registry` holds, as plain JSON-friendly values.

    ``json.dumps`` accepts it as is. A gauge set to NaN or infinity comes out
    as ``NaN`` / ``Infinity``, which Python's ``json`` reads back but strict
    JSON parsers refuse.
    """

    families: list[Family]


# -- metrics -------------------------------------------------------------------


class CounterChild:
    """A counter for one tuple of label values."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0.0

    def inc(self, n: float = 1) -> None:
        """Add ``n``, which must not be negative."""
        # Written as "not >=" so that NaN is refused as well.
        if not n >= 0:
            raise ValueError(f"a counter only goes up, cannot add {n!r}")
        self._value += n

    @property
    def value(self) -> float:
        return self._value


class GaugeChild:
    """A gauge for one tuple of label values."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0.0

    def set(self, value: float) -> None:
        self._value = value

    def inc(self, n: float = 1) -> None:
        self._value += n

    def dec(self, n: float = 1) -> None:
        self._value -= n

    @property
    def value(self) -> float:
        return self._value


class HistogramChild:
    """A histogram for one tuple of label values."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        # Per bucket, not cumulative: an observation touches one slot, and the
        # running totals Prometheus wants are added up at render time.
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        """Record one observation, typically a duration in seconds."""
        # bisect_left finds the first bound >= value, the smallest bucket whose
        # `le` includes it. NaN compares false with everything and would land
        # in the first bucket; it is counted above the highest bound instead.
        if value == value:
            self._counts[bisect_left(self._bounds, value)] += 1
        else:
            self._counts[-1] += 1
        self._sum += value

    @property
    def counts(self) -> list[int]:
        """Observations per bucket (not cumulative), the last one above all."""
        return list(self._counts)

    @property
    def count(self) -> int:
        return sum(self._counts)

    @property
    def sum(self) -> float:
        return self._sum


_ChildT = TypeVar("_ChildT", CounterChild, GaugeChild, HistogramChild)


class _Metric(Generic[_ChildT]):
    """What the three kinds of metric share: name, help, labels, children."""

    kind: ClassVar[Kind]

    def __init__(self, name: str, help: str, labelnames: Sequence[str]) -> None:
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(f"invalid metric name {name!r}")
        if isinstance(labelnames, str):
            # A lone string is a sequence too, of one-letter label names.
            raise TypeError("labelnames must be a sequence of names, not a str")
        for label in labelnames:
            if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labelnames)) != len(labelnames):
            raise ValueError(f"duplicate label names for {name}: {labelnames!r}")

        self.name: Final = name
        self.help: Final = help
        self.labelnames: Final = tuple(labelnames)
        self._children: dict[tuple[str, ...], _ChildT] = {}
        # The only child of an unlabelled metric, which inc/set/observe on the
        # metric itself go to.
        self._default: _ChildT | None = None
        if not labelnames:
            self._default = self._children[()] = self._new_child()

    def labels(self, /, *values: str, **by_name: str) -> _ChildT:
        """Return the child for these label values, by position or by name.

        The child is created on first use and then cached; keep it to update
        it without this lookup. An unlabelled metric answers ``labels()`` with
        its only child.
        """
        if values and by_name:
            raise ValueError(f"{self.name}: give label values by position or name")
        if by_name:
            if by_name.keys() != set(self.labelnames):
                raise ValueError(
                    f"{self.name} takes labels {self.labelnames!r}, "
                    f"got {tuple(by_name)!r}"
                )
            key = tuple(str(by_name[label]) for label in self.labelnames)
        else:
            if len(values) != len(self.labelnames):
                raise ValueError(
                    f"{self.name} takes labels {self.labelnames!r}, "
                    f"got {len(values)} values"
                )
            key = tuple(str(value) for value in values)

        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._new_child()
        return child

    def _only(self) -> _ChildT:
        if self._default is None:
            raise ValueError(
                f"{self.name} has labels {self.labelnames!r}: call .labels() first"
            )
        return self._default

    def _new_child(self) -> _ChildT:
        raise NotImplementedError

    def _family(self) -> Family:
        return {
            "name": self.name,
            "type": self.kind,
            "help": self.help,
            "labelnames": list(self.labelnames),
            "buckets": [],
            "samples": [],
        }

    def sample_names(self) -> tuple[str, ...]:
        """The names this metric's lines use, for the registry's clash check."""
        return (self.name,)

    def collect(self) -> Family:
        """The metric's current values, as one entry of a :class:`Snapshot`."""
        raise NotImplementedError


class Counter(_Metric[CounterChild]):
    """A count that only goes up: messages in, events out, auth failures.

    The name must end in ``_total``.
    """

    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        if not name.endswith("_total") or name == "_total":
            raise ValueError(f"a counter name must end in _total, got {name!r}")
        super().__init__(name, help, labelnames)

    def inc(self, n: float = 1) -> None:
        """Add ``n`` (not negative) to an unlabelled counter."""
        self._only().inc(n)

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def collect(self) -> Family:
        family = self._family()
        family["samples"] = [
            {"labels": list(key), "value": child.value, "counts": []}
            for key, child in self._children.items()
        ]
        return family


class Gauge(_Metric[GaugeChild]):
    """A value that goes up and down: open connections, subscriptions.

    With ``function``, the gauge has no labels and no state of its own: its
    value is whatever ``function()`` returns at render time, and ``set``,
    ``inc`` and ``dec`` are refused. An exception from ``function`` is not
    caught, so a broken callback shows up as a failed render.
    """

    kind = "gauge"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        function: Callable[[], float] | None = None,
    ) -> None:
        if function is not None and labelnames:
            raise ValueError(f"{name}: a gauge with a function cannot have labels")
        self._function: Final = function
        super().__init__(name, help, labelnames)

    def set(self, value: float) -> None:
        self._only().set(value)

    def inc(self, n: float = 1) -> None:
        self._only().inc(n)

    def dec(self, n: float = 1) -> None:
        self._only().dec(n)

    def labels(self, /, *values: str, **by_name: str) -> GaugeChild:
        if self._function is not None:
            raise ValueError(f"{self.name} is computed by its function")
        return super().labels(*values, **by_name)

    def _only(self) -> GaugeChild:
        if self._function is not None:
            raise ValueError(f"{self.name} is computed by its function")
        return super()._only()

    def _new_child(self) -> GaugeChild:
        return GaugeChild()

    def collect(self) -> Family:
        family = self._family()
        if self._function is not None:
            family["samples"] = [
                {"labels": [], "value": float(self._function()), "counts": []}
            ]
        else:
            family["samples"] = [
                {"labels": list(key), "value": child.value, "counts": []}
                for key, child in self._children.items()
            ]
        return family


class Histogram(_Metric[HistogramChild]):
    """Observations counted into buckets: fan-out and snapshot latencies.

    ``buckets`` are the upper bounds, strictly increasing; ``+Inf`` is always
    added and may be left out. The default covers 100 µs to 10 s.
    """

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        if "le" in labelnames:
            raise ValueError(f"{name}: 'le' is reserved for histogram buckets")
        bounds = [float(bound) for bound in buckets]
        if bounds and bounds[-1] == math.inf:
            bounds.pop()
        if not bounds:
            raise ValueError(f"{name}: a histogram needs at least one finite bucket")
        if any(math.isnan(bound) or math.isinf(bound) for bound in bounds):
            raise ValueError(f"{name}: bucket bounds must be finite, got {buckets!r}")
        if any(low >= high for low, high in pairwise(bounds)):
            raise ValueError(f"{name}: buckets must increase, got {buckets!r}")

        # Set before the base class creates the default child, which needs it.
        self.buckets: Final = tuple(bounds)
        super().__init__(name, help, labelnames)

    def observe(self, value: float) -> None:
        """Record one observation on an unlabelled histogram."""
        self._only().observe(value)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.buckets)

    def sample_names(self) -> tuple[str, ...]:
        return tuple(
            f"{self.name}{suffix}" for suffix in ("", "_bucket", "_sum", "_count")
        )

    def collect(self) -> Family:
        family = self._family()
        family["buckets"] = list(self.buckets)
        family["samples"] = [
            {"labels": list(key), "value": child.sum, "counts": child.counts}
            for key, child in self._children.items()
        ]
        return family


# -- registry ------------------------------------------------------------------

_MetricT = TypeVar("_MetricT", Counter, Gauge, Histogram)


class Registry:
    """The set of metrics one process serves on ``/metrics``.

    Metrics render in the order they were registered. Two metrics whose
    lines would share a name (including a histogram's ``_bucket``, ``_sum``
    and ``_count``) are refused with :class:`ValueError`.
    """

    def __init__(self) -> None:
        self._metrics: list[Counter | Gauge | Histogram] = []
        self._names: set[str] = set()

    def register(self, metric: _MetricT) -> _MetricT:
        """Add a metric built elsewhere and return it."""
        names = metric.sample_names()
        clash = self._names.intersection(names)
        if clash:
            raise ValueError(f"metric name already registered: {sorted(clash)!r}")
        self._names.update(names)
        self._metrics.append(metric)
        return metric

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        return self.register(Counter(name, help, labelnames))

    def gauge(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        function: Callable[[], float] | None = None,
    ) -> Gauge:
        return self.register(Gauge(name, help, labelnames, function=function))

    def histogram(
        self,
        name: str,
        help: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        return self.register(Histogram(name, help, labelnames, buckets=buckets))

    def snapshot(self) -> Snapshot:
        """Every current value, as plain data that can cross a process boundary.

        Gauge functions are called here.
        """
        return {"families": [metric.collect() for metric in self._metrics]}

    def render(self) -> bytes:
        """The body of a ``/metrics`` answer, in text format 0.0.4."""
        return render_many([self.snapshot()])


# -- rendering -----------------------------------------------------------------


def render_many(snapshots: Iterable[Snapshot]) -> bytes:
    """Render several snapshots, typically one per worker process, as one.

    Samples with the same metric name and label values are added up. That
    is what counters and histograms need, and it is also what the edge's
    gauges need: open connections and subscriptions of all workers add up to
    those of the edge. A gauge that should not be summed (a setting, a
    version) belongs in one worker's registry only, or gets a label that
    tells the workers apart.

    A metric that two snapshots describe differently (kind, label names or
    buckets) raises :class:`ValueError`: the workers run different code.
    Metrics appear in the order first seen; ``help`` comes from the first
    snapshot that has the metric.
    """
    merged: dict[str, tuple[Family, dict[tuple[str, ...], Sample]]] = {}
    for snapshot in snapshots:
        for family in snapshot["families"]:
            _merge_family(merged, family)

    lines: list[str] = []
    for family, samples in merged.values():
        family["samples"] = list(samples.values())
        _render_family(lines, family)
    return "".join(lines).encode()


def _merge_family(
    merged: dict[str, tuple[Family, dict[tuple[str, ...], Sample]]],
    family: Family,
) -> None:
    """Add ``family`` into ``merged``: a header and the running total per labels."""
    name = family["name"]
    entry = merged.get(name)
    if entry is None:
        entry = merged[name] = (
            {
                "name": name,
                "type": family["type"],
                "help": family["help"],
                "labelnames": list(family["labelnames"]),
                "buckets": list(family["buckets"]),
                "samples": [],
            },
            {},
        )
    into, samples = entry
    for field, ours, theirs in (
        ("type", into["type"], family["type"]),
        ("labelnames", into["labelnames"], family["labelnames"]),
        ("buckets", into["buckets"], family["buckets"]),
    ):
        if ours != theirs:
            raise ValueError(
                f"{name}: snapshots disagree on {field}: {ours!r} and {theirs!r}"
            )

    for sample in family["samples"]:
        key = tuple(sample["labels"])
        total = samples.get(key)
        if total is None:
            samples[key] = {
                "labels": list(sample["labels"]),
                "value": sample["value"],
                "counts": list(sample["counts"]),
            }
            continue
        if len(total["counts"]) != len(sample["counts"]):
            raise ValueError(f"{name}: snapshots disagree on the number of buckets")
        total["value"] += sample["value"]
        total["counts"] = [
            a + b for a, b in zip(total["counts"], sample["counts"], strict=True)
        ]


def _render_family(lines: list[str], family: Family) -> None:
    name = family["name"]
    samples = family["samples"]
    labelnames = family["labelnames"]
    lines.append(f"# HELP {name} {_escape_help(family['help'])}\n")
    lines.append(f"# TYPE {name} {family['type']}\n")

    if family["type"] != "histogram":
        for sample in samples:
            labels = _label_text(labelnames, sample["labels"])
            lines.append(f"{name}{_braced(labels)} {_format(sample['value'])}\n")
        return

    les = [f'le="{_format(bound)}"' for bound in family["buckets"]]
    les.append('le="+Inf"')
    for sample in samples:
        labels = _label_text(labelnames, sample["labels"])
        prefix = f"{labels}," if labels else ""
        cumulative = 0
        for le, count in zip(les, sample["counts"], strict=True):
            cumulative += count
            lines.append(f"{name}_bucket{{{prefix}{le}}} {cumulative}\n")
        lines.append(f"{name}_sum{_braced(labels)} {_format(sample['value'])}\n")
        lines.append(f"{name}_count{_braced(labels)} {cumulative}\n")


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """``a="x",b="y"``, values escaped; empty for an unlabelled metric."""
    return ",".join(
        f'{name}="{_escape_label_value(value)}"'
        for name, value in zip(names, values, strict=True)
    )


def _braced(labels: str) -> str:
    return f"{{{labels}}}" if labels else ""


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format(value: float) -> str:
    """A sample value the way Prometheus spells it: ``3``, ``0.25``, ``+Inf``."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    # Whole numbers print without ".0". Past 2**53 floats no longer hold every
    # integer, so those keep repr's spelling, which Prometheus reads as well.
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)
