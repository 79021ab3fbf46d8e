"""The console script, run as a user runs it: in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.closecodes import CloseCode
from bridge.http import wait_ready
from bridge.natsserver import free_port, port_in_use

from .support import WsClient

CLI = [sys.executable, "-m", "bridge"]


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("REALTIME_", "NATS_"))
    }
    env.update(extra)
    return env


def test_invalid_setting_stops_start_up_with_one_line_naming_it():
    done = subprocess.run(
        [*CLI, "serve"],
        env=_env(REALTIME_TOPIC_LIMIT="many"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "REALTIME_TOPIC_LIMIT" in lines[0]


def test_invalid_flag_value_names_its_variable():
    done = subprocess.run(
        [*CLI, "serve", "--send-queue-bytes", "-5"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "REALTIME_SEND_QUEUE_BYTES" in done.stderr


class _Server:
    """``realtime-bridge serve`` in a child process, read line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [*CLI, "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line_with(self, text: str, timeout: float = 30.0) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if text in line:
                return line
            if not line and self.process.poll() is not None:
                break
        raise AssertionError(f"no line with {text!r}; stderr: {self.stderr()}")

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def embedded_port_free() -> None:
    if port_in_use("127.0.0.1", 4222):
        pytest.skip("127.0.0.1:4222 is taken; the embedded NATS needs it")


async def test_serve_on_embedded_nats_then_sigterm_closes_clients_with_1001(
    embedded_port_free, tmp_path: Path
):
    port = free_port()
    env = _env(
        REALTIME_HOST="127.0.0.1",
        REALTIME_PORT=str(port),
        REALTIME_DATA_DIR=str(tmp_path / "data"),
    )
    server = _Server(env)
    try:
        assert "nats://127.0.0.1:4222" in server.line_with("NATS for producers")
        server.line_with("realtime edge on")
        await wait_ready(port, 30)
        assert (tmp_path / "data" / "nats").is_dir()

        # An operator mints a token; a producer publishes with the CLI.
        token = _cli("token", "--subject", "ops", env=env).strip()
        assert token.startswith("rt_") and "\n" not in token
        client = await WsClient.open(port, token)
        await client.subscribe("payload.list", scopes={"payloadId": "42"})
        published = await asyncio.to_thread(
            _cli,
            "publish",
            "payload.list.42",
            '{"downloads": 7}',
            "--scope",
            "payloadId=42",
            env=env,
        )
        assert "seq" in published
        (event,) = await client.events(1)
        assert event["data"] == {"downloads": 7}
        assert event["meta"] == {"payloadId": "42"}

        server.process.send_signal(signal.SIGTERM)
        assert await client.closed(timeout=10) == CloseCode.GOING_AWAY
        await client.close()
        assert await asyncio.to_thread(server.process.wait, 20) == 0
        assert not port_in_use("127.0.0.1", 4222)
    finally:
        server.stop()


def test_serve_says_so_when_the_embedded_port_is_taken(embedded_port_free, tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 4222))
        squatter.listen()
        done = subprocess.run(
            [*CLI, "serve"],
            env=_env(REALTIME_PORT=str(free_port()), REALTIME_DATA_DIR=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert "4222" in done.stderr and "NATS_URL" in done.stderr


def test_publish_refuses_data_that_is_not_a_json_object(nats_url):
    done = subprocess.run(
        [*CLI, "publish", "payload.list.1", "[1]"],
        env=_env(NATS_URL=nats_url),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "JSON object" in done.stderr


def test_commands_say_when_nats_is_unreachable():
    done = subprocess.run(
        [*CLI, "token"],
        env=_env(NATS_URL=f"nats://127.0.0.1:{free_port()}"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "cannot reach NATS" in done.stderr


async def test_demo_publishes_on_all_six_topics(edge, connect, nats_url, prefix):
    client = await connect(edge)
    topics = sorted(edge.catalog)
    for topic in topics:
        await client.subscribe(topic)
    demo = await asyncio.create_subprocess_exec(
        *CLI,
        "demo",
        "--rate",
        "300",
        env=_env(NATS_URL=nats_url, REALTIME_SUBJECT_PREFIX=prefix),
        stdout=subprocess.DEVNULL,
    )
    seen: dict[str, dict[str, object]] = {}
    try:
        deadline = time.monotonic() + 20
        while set(seen) != set(topics) and time.monotonic() < deadline:
            frame = await client.recv(timeout=10)
            if frame["op"] == "event" and frame["topic"] != "log.event":
                seen[frame["topic"]] = frame
            elif frame["op"] == "event" and frame["data"].get("edge") is None:
                seen["log.event"] = frame
    finally:
        demo.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(demo.wait(), 10) == 0
    assert set(seen) == set(topics)
    assert seen["payload.list"]["meta"].keys() == {"payloadId"}
    assert json.dumps(seen)
