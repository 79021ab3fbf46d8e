"""Headless Chromium driven over the DevTools protocol, for tests of the pages
the edge serves. Uses Debian's chromium; no browser download."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from bridge.natsserver import free_port

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,860",
)


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        await self._ws.send_str(
            json.dumps({"id": ident, "method": method, "params": params})
        )
        while True:
            msg = await self._ws.receive(timeout=30)
            reply = json.loads(msg.data)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


class Browser:
    def __init__(self) -> None:
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="realtime-chromium-")
        self.process: asyncio.subprocess.Process | None = None
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Browser:
        binary = chromium()
        assert binary is not None
        self.process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
            f"--remote-debugging-port={self.port}",
            f"--user-data-dir={self.profile}",
            "about:blank",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = aiohttp.ClientSession()
        async with asyncio.timeout(30):
            while True:
                try:
                    async with self.http.get(
                        f"http://127.0.0.1:{self.port}/json/version"
                    ):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        return self

    async def open(self, url: str) -> Page:
        assert self.http is not None
        async with self.http.get(f"http://127.0.0.1:{self.port}/json/list") as answer:
            (target,) = [t for t in await answer.json() if t["type"] == "page"][:1]
        ws = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        await page.call("Page.enable")
        await page.call("Page.navigate", url=url)
        return page

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        if self.process is not None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)
        shutil.rmtree(self.profile, ignore_errors=True)
