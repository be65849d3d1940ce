"""Fetching a page by URL for ingestion: the server-side request a user can aim, so an
SSRF boundary.

Every rule is checked at every hop (the first request and each redirect):

- only ``http`` and ``https``, and no user name or password in the URL;
- the host is resolved once, every address it resolves to must be a public one (not
  private, loopback, link-local, multicast, reserved, unspecified, CGNAT, nor an IPv4
  address wrapped in IPv6: mapped, compatible, 6to4, Teredo, NAT64, SIIT), and the
  connection goes to that checked address (the URL's host travels in ``Host`` and TLS
  SNI, where the certificate is verified against it): a name cannot resolve to
  something else between the check and the connection;
- at most ``max_redirects`` redirects, ``timeout_s`` for everything, ``max_bytes`` of
  body (by Content-Length and while reading), a content-type allow-list;
- nothing of the caller's is sent: no cookies (not even the page's own from an earlier
  hop), no Authorization, no proxy from the environment.

``allow_loopback`` lets tests fetch from servers they start on 127.0.0.1; nothing else
relaxes any rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from agents.ingestion.extract import ExtractionError
from kernel.urls import BadUrl, check_url
from schemas.events import utcnow

__all__ = ("FETCHED_TYPES", "FetchError", "FetchLimits", "Fetched", "allowed", "fetch")

FETCHED_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain",
                           "text/markdown", "application/pdf"})
"""Content types a fetched page may have; anything else is refused unread."""

_USER_AGENT = "chatstream-fetcher/1"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class FetchError(ExtractionError):
    """The page cannot be fetched; the message is the reason shown to the user."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 5 * 1024 * 1024
    timeout_s: float = 20.0
    max_redirects: int = 5
    allow_loopback: bool = False


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    """Where the body came from (after redirects)."""
    media_type: str
    data: bytes
    fetched_at: datetime


# IPv6 prefixes whose last 32 bits are an IPv4 address a translator or a dual stack
# reaches: NAT64's well-known prefix (RFC 6052: 64:ff9b::a9fe:a9fe is the metadata
# address wherever DNS64/NAT64 runs), IPv4-compatible and IPv4-translated (SIIT) forms.
_CARRYING_V4 = tuple(ipaddress.IPv6Network(n)
                     for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))
# NAT64 for local use (RFC 8215): it maps to whatever the operator's translator serves.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _unwrapped(ip: Address) -> Address:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return inner
        if ip.is_loopback or ip.is_unspecified:
            return ip  # ::1 and :: are themselves, not 0.0.0.1 and 0.0.0.0 of ::/96
        if any(ip in net for net in _CARRYING_V4):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def allowed(ip: Address, *, allow_loopback: bool = False) -> bool:
    """Whether the fetcher may connect to ``ip``: a public unicast address (loopback too
    when the test setting allows it)."""
    if ip in _LOCAL_NAT64:
        return False
    ip = _unwrapped(ip)
    if allow_loopback and ip.is_loopback:
        return True
    return ip.is_global and not ip.is_multicast


async def _system_resolve(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


async def _address(host: str, port: int, limits: FetchLimits, resolve: Resolver) -> Address:
    try:
        literal: Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        found: list[Address] = [literal]
    else:
        try:
            found = [ipaddress.ip_address(a.split("%", 1)[0])
                     for a in await resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise FetchError(f"the host {host} cannot be resolved") from exc
    if not found:
        raise FetchError(f"the host {host} cannot be resolved")
    # Every address must pass: a name that also resolves to an internal address is
    # refused, whichever one a client would have picked.
    for ip in found:
        if not allowed(ip, allow_loopback=limits.allow_loopback):
            raise FetchError(f"{host} resolves to {ip}, a private, loopback, link-local "
                             "or otherwise internal address: not fetched")
    return found[0]


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


async def _hop(client: httpx.AsyncClient, url: str, limits: FetchLimits,
               resolve: Resolver) -> tuple[str | None, Fetched | None]:
    """One request: the next URL (a redirect) or what was fetched."""
    try:
        scheme, host, port = check_url(url)
    except BadUrl as exc:
        raise FetchError(str(exc)) from None
    ip = await _address(host, port, limits, resolve)
    parts = urlsplit(url)
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    target = urlunsplit((scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
    default = (scheme, port) in (("http", 80), ("https", 443))
    headers = {"Host": host if default else f"{host}:{port}", "User-Agent": _USER_AGENT,
               "Accept": ", ".join(sorted(FETCHED_TYPES)) + ";q=0.9, */*;q=0.1",
               "Accept-Encoding": "identity"}
    request = client.build_request("GET", target, headers=headers,
                                   extensions={"sni_hostname": host})
    response = await client.send(request, stream=True)
    try:
        if response.is_redirect:
            location = response.headers.get("location")
            if not location:
                raise FetchError(f"{url} redirects without a Location")
            return urljoin(url, location), None
        if response.status_code != 200:
            raise FetchError(f"{url} answered HTTP {response.status_code}")
        media_type = _media_type(response.headers.get("content-type"))
        if media_type not in FETCHED_TYPES:
            raise FetchError(f"{url} is {media_type or 'of no declared type'}; fetched "
                             "pages are HTML, plain text, Markdown or PDF")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Decompressing is where a small body becomes gigabytes: identity was asked.
            raise FetchError(f"{url} came {encoding}-encoded, which is not fetched")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
            raise FetchError(f"{url} is over the limit of {limits.max_bytes} bytes")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limits.max_bytes:
                raise FetchError(f"{url} is over the limit of {limits.max_bytes} bytes")
        return None, Fetched(url, media_type, bytes(body), utcnow())
    finally:
        await response.aclose()


async def fetch(url: str, limits: FetchLimits = FetchLimits(), *,
                resolve: Resolver = _system_resolve) -> Fetched:
    """The page at ``url`` under every rule of the module's docstring, or FetchError."""
    timeout = httpx.Timeout(min(10.0, limits.timeout_s))
    try:
        async with asyncio.timeout(limits.timeout_s):
            for _ in range(limits.max_redirects + 1):
                # A client per hop: no cookie of one hop reaches the next, no pool
                # connection is reused for another host's address.
                async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                             timeout=timeout) as client:
                    following, fetched = await _hop(client, url, limits, resolve)
                if fetched is not None:
                    return fetched
                assert following is not None
                url = following
    except TimeoutError:
        raise FetchError(f"fetching took longer than {limits.timeout_s:.0f} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"fetching failed: {type(exc).__name__}") from None
    raise FetchError(f"more than {limits.max_redirects} redirects")
