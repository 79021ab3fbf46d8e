"""Whether a connection may subscribe to a topic, and with which scopes.

Free of I/O. Checks run in the order a client can act on: the topic exists,
the session allows it, the scopes are valid for it and agree with the ones the
session forces, and the connection has room for one more topic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .catalog import Catalog
from .protocol import ErrorCode, ScopeValue
from .scopes import ScopeError, Scopes, as_lists, normalize
from .sessions import Session


@dataclass(frozen=True, slots=True)
class Refusal:
    code: ErrorCode
    message: str


def admit(
    catalog: Catalog,
    session: Session,
    held: Collection[str],
    limit: int,
    topic: str,
    requested: Mapping[str, ScopeValue] | None,
) -> Scopes | Refusal:
    """The scopes to subscribe ``topic`` with, or why not."""
    spec = catalog.get(topic)
    if spec is None:
        return Refusal(ErrorCode.UNKNOWN_TOPIC, f"no topic {topic!r}")
    if not session.allows(topic):
        return Refusal(ErrorCode.FORBIDDEN, f"the session does not allow {topic!r}")
    try:
        scopes = normalize(requested, spec.scope_keys)
        forced = normalize(session.scopes.get(topic), spec.scope_keys)
    except ScopeError as exc:
        return Refusal(ErrorCode.INVALID_SCOPES, str(exc))
    if forced:
        if scopes and scopes != forced:
            shown = as_lists(forced)
            return Refusal(
                ErrorCode.FORBIDDEN, f"the session fixes the scopes of {topic}: {shown}"
            )
        scopes = forced
    if topic not in held and len(held) >= limit:
        return Refusal(ErrorCode.TOPIC_LIMIT, f"at most {limit} topics per connection")
    return scopes


def origin_allowed(
    origin: str | None, host: str | None, allowed: Collection[str] | None
) -> bool:
    """REALTIME_ORIGINS: a request without Origin is not a browser and passes;
    unset allows the edge's own origin only (Origin's host:port equals Host)."""
    if origin is None:
        return True
    if allowed is not None:
        return "*" in allowed or origin.rstrip("/") in allowed
    scheme, _, rest = origin.partition("://")
    if not rest or host is None:
        return False
    return _with_port(rest.rstrip("/"), scheme) == _with_port(host, scheme)


_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _with_port(authority: str, scheme: str) -> str:
    authority = authority.lower()
    if authority.endswith("]") or ":" not in authority.rsplit("]", 1)[-1]:
        return f"{authority}:{_DEFAULT_PORTS.get(scheme.lower(), '')}"
    return authority
