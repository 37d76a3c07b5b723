"""The crawler's requests go only where the SSRF guard allows, on every redirect hop."""

from __future__ import annotations

import ipaddress

import pytest

import core.outbound
from knowledge.sources.fetch import Fetcher
from tests.support.website import Page, Website

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def fetcher(*, allow_private: bool) -> Fetcher:
    return Fetcher(user_agent="KefuBot/test", timeout=2, max_bytes=1 << 20, allow_private=allow_private,
                   host_delay=0, in_site=lambda url: True)


@pytest.fixture
def loopback_plays_a_public_site(monkeypatch):
    """127.0.0.1 stands in for a public web server; every other private address stays refused."""
    real = core.outbound.is_forbidden_address
    monkeypatch.setattr(core.outbound, "is_forbidden_address", lambda ip: ip != LOOPBACK and real(ip))


async def test_a_private_site_is_refused_when_private_destinations_are_off() -> None:
    with Website() as site:
        site.add("/", "<html><body><p>hello</p></body></html>")
        client = fetcher(allow_private=False)
        fetched = await client.get(site.url + "/")
        await client.aclose()
    assert fetched.status == 0 and "private or reserved" in (fetched.error or "")
    assert site.fetched("/") == []  # refused before any connection


async def test_a_redirect_to_a_private_address_is_refused(loopback_plays_a_public_site) -> None:
    with Website() as site:
        site.add("/", "<html><body><p>hello</p></body></html>")
        site.add("/to-intranet", Page(status=302, location="http://10.20.30.40/admin", etag=False))
        site.add("/to-metadata", Page(status=302, location="http://169.254.169.254/latest/meta-data/", etag=False))
        client = fetcher(allow_private=False)
        fine = await client.get(site.url + "/")
        intranet = await client.get(site.url + "/to-intranet")
        metadata = await client.get(site.url + "/to-metadata")
        await client.aclose()
    assert fine.status == 200 and fine.error is None
    assert intranet.url == site.url + "/to-intranet" and intranet.body == b""
    assert "redirected to http://10.20.30.40/admin: refused" in intranet.error and "private" in intranet.error
    assert "169.254.169.254" in metadata.error and "refused" in metadata.error


async def test_the_metadata_address_is_refused_even_when_private_destinations_are_allowed() -> None:
    with Website() as site:
        site.add("/to-metadata", Page(status=301, location="http://169.254.169.254/latest/meta-data/", etag=False))
        site.add("/mapped", Page(status=301, location="http://[::ffff:169.254.169.254]/", etag=False))
        client = fetcher(allow_private=True)
        direct = await client.get("http://169.254.169.254/latest/meta-data/")
        redirected = await client.get(site.url + "/to-metadata")
        mapped = await client.get(site.url + "/mapped")
        await client.aclose()
    for fetched in (direct, redirected, mapped):
        assert fetched.error and "link-local (metadata)" in fetched.error, fetched


async def test_a_redirect_off_the_site_is_not_followed() -> None:
    with Website() as site:
        site.add("/away", Page(status=301, location="http://127.0.0.2:1/elsewhere", etag=False))
        client = Fetcher(user_agent="KefuBot/test", timeout=2, max_bytes=1 << 20, allow_private=True, host_delay=0,
                         in_site=lambda url: url.startswith(site.url))
        fetched = await client.get(site.url + "/away")
        await client.aclose()
    assert "redirects off the site" in fetched.error


async def test_size_and_redirect_limits() -> None:
    with Website() as site:
        site.add("/big", Page(b"x" * 5000, content_type="text/html"))
        site.add("/bomb", Page(b"<p>" + b"a" * 200_000 + b"</p>", gzip=True))
        for n in range(8):
            site.add(f"/r{n}", Page(status=302, location=f"/r{n + 1}", etag=False))
        client = Fetcher(user_agent="KefuBot/test", timeout=2, max_bytes=4096, allow_private=True, host_delay=0,
                         in_site=lambda url: True)
        big, bomb, loop = await client.get(site.url + "/big"), await client.get(site.url + "/bomb"), \
            await client.get(site.url + "/r0")
        await client.aclose()
    assert "larger than" in big.error and big.body == b""
    assert "larger than" in bomb.error  # 200 kB unpacked from a ~1 kB gzip body
    assert "more than 5 redirects" in loop.error
