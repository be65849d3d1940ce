"""Who is calling, by address: the peer, or behind trusted proxies the address the
nearest untrusted hop was seen from (``X-Forwarded-For``, read from the right)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import HTTPConnection

from kernel.telemetry.health import from_this_host

__all__ = ("Networks", "client_address", "local_client", "networks")

Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def networks(entries: Iterable[str]) -> Networks:
    """``["10.0.0.0/8", "127.0.0.1"]`` → networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(conn: HTTPConnection, trusted: Networks) -> str:
    """The client's address. ``X-Forwarded-For`` is believed only when the peer is a
    trusted proxy, and only up to the first hop that is not one: anything to its left
    was written by the client and is ignored (else any client could pick its own key)."""
    peer = conn.client.host if conn.client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for v in conn.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed([h for h in hops if h]):
        if _trusted(hop, trusted):
            continue
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            return peer  # garbage where a proxy should have written an address
    return peer


def local_client(conn: HTTPConnection, trusted: Networks) -> bool:
    """Whether the client is on this host: a loopback peer with no proxy header saying
    the request was relayed from elsewhere, or a trusted proxy vouching (with
    ``X-Forwarded-For``) for a loopback client."""
    peer = conn.client.host if conn.client else None
    if from_this_host(peer, conn.headers):
        return True
    return (peer is not None and _trusted(peer, trusted)
            and "x-forwarded-for" in conn.headers
            and ipaddress.ip_address(client_address(conn, trusted)).is_loopback)
