"""Widget settings (colour, corner, title, avatar, starter questions) in the tag, and the demo shop's
orders answered for its signed-in shopper."""

from __future__ import annotations

import pytest

from backend import demo
from core.errors import ValidationFailed
from core.identity import user_hash
from core.tenancy import identity_secret
from core.widget_appearance import WidgetAppearance, save_appearance, validate_appearance, widget_tag
from tests.factories import TenantCtx

pytestmark = pytest.mark.integration


def test_the_tag_carries_the_settings_escaped_and_the_shops_name_as_title() -> None:
    look = WidgetAppearance(
        color="#aa3300",
        position="left",
        avatar="https://cdn.example.com/a.png",
        starters=("Where is my order?", '运费 "多少"？'),
    )
    tag = widget_tag("https://kefu.example.com/", "kefu_wk_abc", look, "Lotus <Tea>")
    assert tag == (
        '<script src="https://kefu.example.com/widget/kefu.js" data-key="kefu_wk_abc" '
        'data-title="Lotus &lt;Tea&gt;" data-color="#aa3300" data-position="left" '
        'data-avatar="https://cdn.example.com/a.png" '
        'data-starters="Where is my order?|运费 &quot;多少&quot;？" async></script>'
    )
    plain = widget_tag("https://k.example.com", "kefu_wk_abc", WidgetAppearance(title="Tea"), "Shop")
    assert (
        plain
        == '<script src="https://k.example.com/widget/kefu.js" data-key="kefu_wk_abc" data-title="Tea" async></script>'
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"color": "red; background: url(x)"}, "hex colour"),
        ({"position": "top"}, "right or left"),
        ({"avatar": "javascript:alert(1)"}, "https://"),
        ({"starters": ["q"] * 7}, "at most 6"),
        ({"starters": ["x" * 121]}, "at most 120"),
        ({"title": "t" * 81}, "at most 80"),
        ({"font": "Comic Sans"}, "Unknown widget settings: font"),
    ],
)
def test_bad_settings_are_refused_with_the_rule(changes, message) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate_appearance(WidgetAppearance(), changes)


def test_starters_one_per_line_and_a_pipe_cannot_split_one() -> None:
    look = validate_appearance(WidgetAppearance(), {"starters": "Where is my order?\n\n  A | B  \n"})
    assert look.starters == ("Where is my order?", "A / B")


async def test_saved_settings_reach_the_install_snippet_and_the_demo_page(client, tenant: TenantCtx) -> None:
    save_appearance(tenant.id, {"color": "#7B2CBF", "title": "Lotus Tea", "starters": ["How long is delivery?"]})
    [entry] = (await client.get("/api/v1/settings/widget", headers=tenant.analyst)).json()["keys"]
    assert 'data-title="Lotus Tea" data-color="#7b2cbf" data-starters="How long is delivery?"' in entry["snippet"]
    page = await client.get("/demo/shop", params={"key": tenant.created.widget_key})
    assert 'data-title="Lotus Tea" data-color="#7b2cbf"' in page.text


async def test_demo_shop_passes_a_signed_in_shopper_on_and_refuses_half_of_one(client, tenant: TenantCtx) -> None:
    key, digest = tenant.created.widget_key, "ab" * 32
    page = await client.get("/demo/shop", params={"key": key, "user": "c-1001", "hash": digest})
    assert (
        f'data-user-id="c-1001" data-user-hash="{digest}"' in page.text and "Signed in as customer c-1001" in page.text
    )
    for params in (
        {"user": "c-1001"},
        {"hash": digest},
        {"user": "c 1001", "hash": digest},
        {"user": "c-1001", "hash": "<script>"},
    ):
        bad = await client.get("/demo/shop", params={"key": key, **params})
        assert bad.status_code == 422 and "user" in bad.json()["detail"]


async def test_demo_orders_answer_only_the_signed_in_shopper(client, tenant: TenantCtx, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))
    from core.settings import get_settings

    get_settings.cache_clear()
    try:
        seeded = demo._seed_shop(str(tenant.id))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert seeded["shopper_hash"] == user_hash(identity_secret(tenant.id), "c-1001")
    widget = {"X-Widget-Key": tenant.created.widget_key}
    shopper = {"id": "c-1001", "hash": seeded["shopper_hash"]}
    mine = await client.post(
        "/api/v1/chat", headers=widget, json={"message": "Where is my order 10023?", "user": shopper}
    )
    assert mine.status_code == 200
    assert "Shipped" in mine.json()["answer"] and "SF1402938475" in mine.json()["answer"]
    zh = await client.post("/api/v1/chat", headers=widget, json={"message": "我的订单10023到哪了？", "user": shopper})
    assert "已发货" in zh.json()["answer"]
    theirs = await client.post(
        "/api/v1/chat", headers=widget, json={"message": "Where is my order 10025?", "user": shopper}
    )
    assert "JDX0012345678" not in theirs.json()["answer"]
    anonymous = await client.post("/api/v1/chat", headers=widget, json={"message": "Where is my order 10023?"})
    assert "sign in" in anonymous.json()["answer"] and "SF1402938475" not in anonymous.json()["answer"]
    [entry] = (await client.get("/api/v1/settings/widget", headers=tenant.analyst)).json()["keys"]
    assert 'data-starters="Where is my order 10023?|' in entry["snippet"]


async def test_the_api_changes_the_look_for_admins_only_and_refuses_bad_values(
    client, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    url = "/api/v1/settings/widget/appearance"
    changed = await client.put(url, headers=tenant.admin, json={"color": "#AA3300", "position": "left"})
    assert changed.status_code == 200 and changed.json()["color"] == "#aa3300"
    [entry] = (await client.get("/api/v1/settings/widget", headers=tenant.admin)).json()["keys"]
    assert 'data-color="#aa3300" data-position="left"' in entry["snippet"]
    [theirs] = (await client.get("/api/v1/settings/widget", headers=other_tenant.admin)).json()["keys"]
    assert "data-color" not in theirs["snippet"]  # another tenant's look is untouched
    assert (await client.put(url, headers=tenant.analyst, json={"color": "#000000"})).status_code == 403
    bad = await client.put(url, headers=tenant.admin, json={"color": "red", "title": "New"})
    assert bad.status_code == 422 and "hex colour" in bad.json()["detail"]
    look = (await client.get("/api/v1/settings/widget", headers=tenant.admin)).json()["appearance"]
    assert (look["color"], look["title"]) == ("#aa3300", "")  # nothing of the refused change was stored
