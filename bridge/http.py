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
