"""Issue 20 item 2: the login lockout was bypassed behind the compose proxy.

The attack: `docker-compose.yml` set `FORWARDED_ALLOW_IPS: "*"` and `deploy/nginx.conf` appended the
real address after the client's own `X-Forwarded-For`; uvicorn then took the client-supplied
leftmost entry. 8 wrong passwords, each with a different `X-Forwarded-For`, all got 401, never 429,
and the right password then logged in. Now the api trusts forwarded headers only from the proxy's
own address and nginx sends only the address it saw.

These run the real `kefu api` process (uvicorn) with the trust setting that compose gives it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import yaml

from core.db import tenant_session_sync
from core.settings import get_settings
from core.tenancy import add_user
from tests.e2e.conftest import ROOT
from tests.factories import make_tenant
from tests.security.conftest import api_process

pytestmark = pytest.mark.integration
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
NGINX = (ROOT / "deploy" / "nginx.conf").read_text()


def compose_trusted_proxies() -> str:
    return COMPOSE["services"]["api"]["environment"]["FORWARDED_ALLOW_IPS"]


def nginx_forwarded_for(client_header: str | None, client_address: str) -> str:
    """The X-Forwarded-For that deploy/nginx.conf sends upstream for this client."""
    value = re.search(r"proxy_set_header\s+X-Forwarded-For\s+(\S+);", NGINX).group(1)
    if value == "$remote_addr":
        return client_address
    assert value == "$proxy_add_x_forwarded_for", value
    return f"{client_header}, {client_address}" if client_header else client_address


@pytest.fixture(scope="module")
def api_as_composed(database) -> Iterator[str]:
    """The api trusting what compose tells it to trust; this test talks to it directly, as another container could."""
    yield from api_process(FORWARDED_ALLOW_IPS=compose_trusted_proxies())


def account() -> str:
    tenant = make_tenant("Lockout")
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    with tenant_session_sync(tenant.id) as session:
        add_user(session, tenant.id, email, "right-password-1", "admin")
    return email


def guesses(base: str, email: str, forwarded_for) -> list[int]:
    codes = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for i in range(get_settings().login_max_failures + 3):
            response = client.post(
                "/api/v1/auth/login",
                json={"email": email, "password": f"wrong-{i}"},
                headers={"X-Forwarded-For": forwarded_for(i)},
            )
            codes.append(response.status_code)
        right = client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": "right-password-1"},
            headers={"X-Forwarded-For": forwarded_for(99)},
        )
        codes.append(right.status_code)
        if right.status_code == 429:
            assert right.headers["Retry-After"] and right.headers["RateLimit"].startswith('"login";r=0;')
    return codes


def test_compose_trusts_only_the_proxys_address() -> None:
    trusted = compose_trusted_proxies()
    assert trusted != "*" and "," not in trusted
    assert COMPOSE["services"]["proxy"]["networks"]["default"]["ipv4_address"] == trusted


def test_spoofed_forwarded_for_sent_straight_to_the_api_changes_nothing(api_as_composed) -> None:
    email = account()
    codes = guesses(api_as_composed, email, lambda i: f"203.0.113.{i + 1}")
    allowed = get_settings().login_max_failures
    assert codes[:allowed] == [401] * allowed
    assert set(codes[allowed:]) == {429}, codes  # the right password too, until the window ends


def test_spoofed_forwarded_for_through_the_proxy_changes_nothing(api_behind_proxy) -> None:
    email = account()
    real_client = "198.51.100.23"
    codes = guesses(api_behind_proxy, email, lambda i: nginx_forwarded_for(f"203.0.113.{i + 1}", real_client))
    assert set(codes[get_settings().login_max_failures :]) == {429}, codes
    # The lock is per address: the account's owner elsewhere still signs in.
    with httpx.Client(base_url=api_behind_proxy, timeout=30) as client:
        owner = client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": "right-password-1"},
            headers={"X-Forwarded-For": nginx_forwarded_for(None, "198.51.100.99")},
        )
    assert owner.status_code == 200, owner.text


def test_nginx_sends_only_the_address_it_saw() -> None:
    assert nginx_forwarded_for("203.0.113.9", "198.51.100.23") == "198.51.100.23"
    assert len(re.findall(r"proxy_set_header\s+X-Forwarded-For\s", NGINX)) == 1  # no location overrides it
