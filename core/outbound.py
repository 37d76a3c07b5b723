"""Outbound HTTP on a tenant's behalf, guarded against SSRF: HTTP tools, webhooks, website crawls.

Every address a host resolves to is checked (private, loopback, link-local, reserved and the IPv4
forms hidden in IPv6 are refused unless the operator allows private destinations; link-local, where
cloud metadata services such as 169.254.169.254 answer, is refused even then), and the
connection then goes to a checked address (pinned), so a DNS answer that changes between check and
connect cannot redirect it. TLS still verifies the certificate for the original host name (SNI),
because httpcore passes the URL's host to `start_tls`. Redirects are never followed here: a caller
that follows them checks each new location again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

import httpcore
import httpx

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestinationError(Exception):
    """The URL may not be requested (private address, bad scheme, unresolvable host)."""


def is_forbidden_address(ip: IPAddress) -> bool:
    """True for addresses a tenant's tool must not reach: anything not plainly on the public internet."""
    if _forbidden_plain(ip):
        return True
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return embedded is not None and _forbidden_plain(embedded)


def is_link_local(ip: IPAddress) -> bool:
    """True for link-local addresses in any form (cloud metadata endpoints live there)."""
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_link_local or (embedded is not None and embedded.is_link_local)


def _forbidden_plain(ip: IPAddress) -> bool:
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or getattr(ip, "is_site_local", False)
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo client, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


async def resolve_destination(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Every address `host` resolves to, or `UnsafeDestinationError` if any of them is forbidden."""
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeDestinationError(f"could not resolve host {host}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
    # One forbidden answer refuses all: an attacker's DNS could otherwise mix a public address in.
    if not allow_private and any(is_forbidden_address(ip) for ip in addresses):
        raise UnsafeDestinationError(f"refused: {host} resolves to a private or reserved address")
    # Allowing private networks (an operator's choice for internal services) never opens the
    # instance metadata service: its credentials would be the cloud account's.
    if any(is_link_local(ip) for ip in addresses):
        raise UnsafeDestinationError(f"refused: {host} resolves to a link-local (metadata) address")
    if not addresses:
        raise UnsafeDestinationError(f"could not resolve host {host}")
    return [str(ip) for ip in addresses]


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to the checked addresses of one host, whatever DNS says at connect time."""

    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        self._host, self._addresses, self._inner = host, addresses, httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host != self._host:
            raise httpcore.ConnectError(f"connection to unchecked host {host} refused")
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for all calls (loading the CA bundle costs milliseconds)."""
    return httpx.create_ssl_context(trust_env=False)


class PinnedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, host: str, addresses: Sequence[str]) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        # httpx has no public parameter for the network backend, so its (httpcore) pool is replaced;
        # the DNS-pinning test in tests/integration/test_records_tools.py fails if this stops working.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(), network_backend=_PinnedBackend(host, addresses)
        )


async def guarded_client(url: httpx.URL, *, timeout: float, allow_private: bool) -> httpx.AsyncClient:
    """A client that may only connect to `url`'s host at the addresses checked now (no redirects)."""
    if url.scheme not in ("http", "https") or url.userinfo or not url.host:
        raise UnsafeDestinationError("only http(s) URLs without credentials may be requested")
    host = url.raw_host.decode("ascii")  # IDNA-encoded: what httpcore will connect to
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await resolve_destination(host, port, allow_private=allow_private)
    return httpx.AsyncClient(transport=PinnedTransport(host, addresses), timeout=timeout,
                             follow_redirects=False, trust_env=False)


def decompress(raw: bytes, encoding: str, limit: int) -> bytes | None:
    """Decode gzip/deflate within the size limit (we asked for identity, but servers may ignore it)."""
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    decoder = zlib.decompressobj(47 if "gzip" in encoding else 15)  # 47: gzip or zlib header
    try:
        content = decoder.decompress(raw, limit + 1)
    except zlib.error:
        return None
    return None if len(content) > limit or decoder.unconsumed_tail else content
