"""The console page and the browser client, in headless Chromium."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bridge.natsserver import free_port

from .browser import Browser, chromium
from .follow import publish_steadily
from .support import http_get, mint_token, publish

pytestmark = pytest.mark.skipif(
    chromium() is None,
    reason="Debian's chromium is not installed (.ci/run installs it)",
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


async def _until(page, expression: str, seconds: float = 20.0) -> object:
    async with asyncio.timeout(seconds):
        while True:
            value = await page.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)


async def test_console_shows_snapshot_then_live_and_loses_nothing_over_a_restart(
    make_edge, nats_url, producer, prefix
):
    port = str(free_port())
    edge = await make_edge(REALTIME_PORT=port)
    for n in range(3):
        await publish(
            producer,
            prefix,
            f"tunnel.status.t{n}",
            {"up": True, "n": n},
            tunnelId=f"t{n}",
        )
    token = await mint_token(edge)
    url = (
        f"http://127.0.0.1:{port}/?token={token}&topics=tunnel.status,capture.activity"
    )

    async with Browser() as browser:
        page = await browser.open(url)
        # The snapshot of three tunnels, then a live event.
        await _until(page, "window.realtimeConsole?.client?.status === 'connected'")
        await _until(page, "window.realtimeConsole.received.length >= 3")
        await publish(
            producer, prefix, "tunnel.status.t1", {"up": False, "n": 1}, tunnelId="t1"
        )
        await _until(
            page,
            "window.realtimeConsole.client.state.get('tunnel.status')"
            "?.get('tunnel.status.t1')?.data.up === false",
        )
        shown = await page.evaluate("document.getElementById('state').innerText")
        assert "tunnel.status (3)" in shown

        # Events keep coming while the edge restarts on the same port.
        publishing = asyncio.create_task(
            publish_steadily([nats_url], f"{prefix}.capture.activity.c1", 100, 4)
        )
        await asyncio.sleep(1.2)
        await edge.stop()
        await make_edge(REALTIME_PORT=port)
        published = await publishing
        await _until(
            page,
            "window.realtimeConsole.received.filter(r => r[0] === 'capture.activity')"
            f".length >= {len(published.seqs)}",
            30,
        )
        await asyncio.sleep(0.5)
        received = await page.evaluate(
            "window.realtimeConsole.received"
            ".filter(r => r[0] === 'capture.activity').map(r => r[1])"
        )
        assert received == published.seqs
        assert await page.evaluate("window.realtimeConsole.client.reconnects") >= 1
        assert await page.evaluate("document.getElementById('status').textContent") == (
            "connected"
        )
        if os.environ.get("REALTIME_SCREENSHOT") == "1":
            await page.evaluate("document.getElementById('token').value = 'rt_…'")
            await page.screenshot(DOCS / "console.png")


async def test_console_can_be_turned_off(make_edge):
    edge = await make_edge(REALTIME_CONSOLE="0")
    assert (await http_get(edge, "/"))[0] == 404
    status, body = await http_get(edge, "/client.js")
    assert status == 200 and "export class RealtimeClient" in body
