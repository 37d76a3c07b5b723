"""Issue 20 item 6: one client starved a tenant by inventing a visitor id per message.

The attack: 610 chat requests, each with a fresh `visitor_id`, took 8.6 s and used the tenant's whole
minute; real customers then got 429 every minute. Limits existed per tenant and per client-chosen
visitor id, none per client address. Now one address has its own limit
(`address_rate_limit_per_minute`, a bot setting), taken from the trusted proxy chain only, and a
message refused for its visitor or address no longer counts against the tenant.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import make_tenant

pytestmark = pytest.mark.integration
ATTACKER, CUSTOMER = "198.51.100.7", "198.51.100.8"


def chat(client: httpx.Client, widget: dict[str, str], address: str) -> httpx.Response:
    # The test is the trusted proxy: it forwards the client's address the way nginx.conf does.
    return client.post(
        "/api/v1/chat",
        headers={**widget, "X-Forwarded-For": address},
        json={"message": "hello", "visitor_id": f"v-{uuid.uuid4().hex[:12]}"},
    )


def test_one_address_cannot_use_up_the_tenants_minute(api_behind_proxy) -> None:
    # The attack at a tenth of the scale: the tenant's minute is 100 messages, one client sends 110
    # with a fresh visitor id each, then a real customer writes. The per-address limit is left at
    # its default (60), so this runs unchanged against code without it.
    shop = make_tenant("Starved shop")
    widget = {"X-Widget-Key": shop.created.widget_key}
    with httpx.Client(base_url=api_behind_proxy, timeout=30) as client:
        configured = client.put("/api/v1/settings/bot", headers=shop.admin, json={"rate_limit_per_minute": 100})
        assert configured.status_code == 200, configured.text
        flood = [chat(client, widget, ATTACKER) for _ in range(110)]
        # A real customer at another address is still answered: the flood did not spend the tenant's minute.
        customer = chat(client, widget, CUSTOMER)
        assert customer.status_code == 200, customer.text
    served = [r for r in flood if r.status_code == 200]
    refused = [r for r in flood if r.status_code == 429]
    assert len(served) + len(refused) == 110
    assert len(served) <= 100  # at most 60 a minute (the flood may straddle a minute boundary)
    assert 'address";q=60;w=60' in refused[0].headers["RateLimit-Policy"]
    assert refused[0].headers["RateLimit"].startswith('"address";r=0;t=')
    assert int(refused[0].headers["Retry-After"]) == int(refused[0].headers["RateLimit"].rsplit("t=", 1)[1])


def test_the_address_limit_is_a_bot_setting(api_behind_proxy) -> None:
    shop = make_tenant("Strict shop")
    widget = {"X-Widget-Key": shop.created.widget_key}
    with httpx.Client(base_url=api_behind_proxy, timeout=30) as client:
        configured = client.put("/api/v1/settings/bot", headers=shop.admin, json={"address_rate_limit_per_minute": 3})
        assert configured.status_code == 200, configured.text
        codes = [chat(client, widget, ATTACKER).status_code for _ in range(7)]
    assert codes.count(200) <= 6 and set(codes) == {200, 429}, codes  # 3 a minute, over at most two minutes


def test_limit_bounds_are_checked(api_behind_proxy) -> None:
    shop = make_tenant("Bounds shop")
    with httpx.Client(base_url=api_behind_proxy, timeout=30) as client:
        refused = client.put("/api/v1/settings/bot", headers=shop.admin, json={"address_rate_limit_per_minute": 0})
    assert refused.status_code == 422 and "address_rate_limit_per_minute" in refused.json()["detail"]
