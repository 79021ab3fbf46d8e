"""The benchmark counts what it should: deliveries, losses, order (small sizes;
no timing is asserted)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.bench import runner


def _options(**overrides) -> runner.Options:
    values = dict(
        scenarios=["fanout", "scoped", "snapshot", "idle"],
        targets=["bridge", "nats-ws"],
        clients=20,
        messages=100,
        scoped_clients=10,
        scoped_messages=200,
        entities=15,
        idle=30,
        processes=2,
    )
    values.update(overrides)
    return runner.Options(**values)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return list(runner.run(_options()))


def _row(rows, scenario: str, target: str) -> dict:
    (row,) = [r for r in rows if r["scenario"] == scenario and r["target"] == target]
    return row


@pytest.mark.parametrize("target", ["bridge", "nats-ws"])
def test_fanout_counts_every_delivery_to_every_client(rows, target):
    row = _row(rows, "fanout", target)
    assert row["deliveries"] == 20 * 100
    assert row["lost"] == 0
    assert row["out_of_order"] == 0
    assert row["closed"] == 0
    for key in (
        "scenario",
        "target",
        "clients",
        "messages",
        "deliveries_per_s",
        "p50_ms",
        "p99_ms",
        "lost",
        "server_cpu_us_per_delivery",
        "server_rss_kb_per_connection",
    ):
        assert key in row


@pytest.mark.parametrize("target", ["bridge", "nats-ws"])
def test_scoped_delivers_each_message_to_one_client(rows, target):
    row = _row(rows, "scoped", target)
    assert row["messages"] == 200
    assert row["deliveries"] == 200
    assert row["lost"] == 0


def test_snapshot_completes_for_every_client(rows):
    row = _row(rows, "snapshot", "bridge")
    assert row["deliveries"] == 20 * 15
    assert row["lost"] == 0
    assert row["complete_s"] is not None
    assert not [
        r for r in rows if r["scenario"] == "snapshot" and r["target"] != "bridge"
    ]


@pytest.mark.parametrize("target", ["bridge", "nats-ws"])
def test_idle_holds_every_connection(rows, target):
    row = _row(rows, "idle", target)
    assert row["clients"] == 30
    assert row["closed"] == 0
    assert row["server_rss_kb_per_connection"] is not None


def test_missing_deliveries_are_reported_as_lost():
    results = [
        {
            "received": [10, 7],
            "out_of_order": 0,
            "closed": [],
            "delays": [1.0],
            "cpu_s": 0.1,
        },
        {
            "received": [10, 10],
            "out_of_order": 1,
            "closed": [4509],
            "delays": [],
            "cpu_s": 0.1,
        },
    ]
    row = runner._result("fanout", "bridge", 4, 10, 40, results, 1.0, 0.01, 400, None)
    assert row["deliveries"] == 37
    assert row["lost"] == 3
    assert row["out_of_order"] == 1
    assert row["closed"] == 1
    assert row["server_cpu_us_per_delivery"] == round(0.01 * 1e6 / 37, 3)
    assert row["server_rss_kb_per_connection"] == 100


def test_table_has_one_line_per_row():
    row = runner._result("idle", "nats-ws", 2, 0, 0, [], 0.0, 0.0, 10, None)
    assert runner.table_row(row).startswith("idle")
    assert runner.table_header().startswith("scenario")
    assert asyncio.iscoroutinefunction(runner._token)
