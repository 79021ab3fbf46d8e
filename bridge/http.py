"""Small HTTP helpers shared by the endpoints."""

from __future__ import annotations

from aiohttp import hdrs, web


def json_error(status: int, code: str, message: str) -> web.Response:
    """The error body of every endpoint: ``{"error": code, "message": text}``."""
    return web.json_response({"error": code, "message": message}, status=status)


def bearer(request: web.Request) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header."""
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def wait_ready(port: int, seconds: float = 60.0) -> None:
    """Poll ``/readyz`` of the edge on ``port`` until it answers 200; raises
    TimeoutError after ``seconds``."""
    import asyncio

    import aiohttp

    async with asyncio.timeout(seconds), aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
