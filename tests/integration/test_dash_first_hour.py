"""Issue 22 in the admin app over HTTP: the language follows the browser and a switch sticks, the tenant's
time zone drives the peak-hour heatmap, the first-run checklist is ticked from stored state, and
numbers read as numbers."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime

import flask
import pytest
from sqlalchemy import select

from analytics import reports, rollups
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import Tenant, WidgetKey
from core.tenancy import adopt_timezone, mark_onboarding, set_timezone, set_widget_origins
from dash_app import formats, onboarding
from dash_app.app import create_app
from dash_app.i18n import LANG_COOKIE
from dash_app.pages.conversations import visitor_label
from tests.factories import make_tenant
from tests.support.analytics_seed import add_conversation, question, reply
from tests.support.dash_users import owner_of

pytestmark = pytest.mark.integration
PASSWORD = "password-123"


@pytest.fixture(scope="module")
def app():
    return create_app()


def test_the_login_page_speaks_the_browsers_language_until_one_is_chosen(app):
    client = app.server.test_client()
    assert "登录" in client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).text
    assert ">Sign in<" in client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).text
    assert ">Sign in<" in client.get("/login", headers={"Accept-Language": "fr-FR"}).text  # neither: English
    client.get("/lang/en")
    assert ">Sign in<" in client.get("/login", headers={"Accept-Language": "zh-CN"}).text  # the choice wins


def test_a_language_switch_survives_a_callback_that_started_before_it(app):
    ctx = make_tenant("Lang")
    client = app.server.test_client()
    client.post("/login", data={"email": ctx.created.admin_email, "password": PASSWORD})
    before = client.get_cookie("kefu_admin").value
    switched = client.get("/lang/zh", headers={"Referer": "http://localhost/status"})
    assert switched.status_code == 302 and LANG_COOKIE in switched.headers["Set-Cookie"]
    # A callback sent with the session cookie from before the switch answers without re-sending it,
    # so it cannot put the old session (and with it the old language) back.
    client.set_cookie("kefu_admin", before)
    stale = client.post(
        "/_dash-update-component",
        json={
            "output": "browser-timezone-saved.children",
            "outputs": {"id": "browser-timezone-saved", "property": "children"},
            "inputs": [{"id": "browser-timezone", "property": "data", "value": None}],
            "state": [],
            "changedPropIds": ["browser-timezone.data"],
        },
    )
    assert stale.status_code == 200 and "Set-Cookie" not in stale.headers
    layout = json.dumps(client.get("/_dash-layout").get_json(), ensure_ascii=False)
    assert "退出" in layout and client.get_cookie(LANG_COOKIE).value == "zh"


def test_time_zone_is_checked_stored_and_the_browser_default_never_overrides_a_choice():
    ctx = make_tenant("Zone")
    for bad in ("", "Mars/Olympus", "../etc/passwd", "UTC+8"):
        with pytest.raises(ValidationFailed, match="IANA"):
            set_timezone(ctx.id, bad)
    assert adopt_timezone(ctx.id, "Europe/Berlin") == "Europe/Berlin"  # unset: the browser's is taken
    assert set_timezone(ctx.id, "Asia/Shanghai") == "Asia/Shanghai"
    assert adopt_timezone(ctx.id, "America/New_York") is None
    from dash_app.auth import load_user

    assert load_user(ctx.id, ctx.created.admin_user_id).timezone == "Asia/Shanghai"


def test_the_heatmap_puts_a_message_in_the_tenants_local_hour():
    ctx = make_tenant("Heat")
    sent = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # Monday 01:30 UTC = Monday 09:30 in Shanghai
    add_conversation(ctx.id, "v1", sent, messages=[question("几点发货？", sent), reply("下午。", sent, latency_ms=200)])
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # Sunday 20:00 UTC = Monday 04:00 in Shanghai
    add_conversation(ctx.id, "v2", late, messages=[question("还在吗？", late)])
    with tenant_session_sync(ctx.id) as session:
        rollups.refresh(session, ctx.id, full=True, today=date(2026, 3, 5))
        period = Period(date(2026, 3, 1), date(2026, 3, 3))
        utc = reports.peak_hours(session, ctx.id, period).set_index(["weekday", "hour"])["messages"]
        local = reports.peak_hours(session, ctx.id, period, "Asia/Shanghai").set_index(["weekday", "hour"])["messages"]
    assert (utc[(0, 1)], utc[(6, 20)]) == (2, 1)
    assert (local[(0, 9)], local[(0, 4)], local[(0, 1)], local[(6, 20)]) == (2, 1, 0, 0)
    assert int(local.sum()) == int(utc.sum()) == 3


def test_the_checklist_ticks_each_step_from_what_is_stored():
    ctx = make_tenant("Steps")
    user = owner_of(ctx)
    assert {s.key: s.done for s in onboarding.steps(user)} == {
        "faq": False,
        "ask": False,
        "tag": False,
        "origins": False,
        "invite": True,
    }  # make_tenant adds an analyst
    now = datetime.now(UTC)
    add_conversation(ctx.id, "v", now, messages=[question("hello?", now)])
    mark_onboarding(ctx.id, "tag_copied")
    with tenant_session_sync(ctx.id) as session:
        key_id = session.scalar(select(WidgetKey.id).where(WidgetKey.tenant_id == ctx.id))
    set_widget_origins(ctx.id, key_id, ["https://shop.example.com"])
    done = {s.key: s.done for s in onboarding.steps(user)}
    assert done == {"faq": False, "ask": True, "tag": True, "origins": True, "invite": True}
    with pytest.raises(ValidationFailed):
        mark_onboarding(ctx.id, "faq")  # only the step that leaves no other trace is recorded
    with tenant_session_sync(ctx.id) as session:
        assert session.get(Tenant, ctx.id).settings["onboarding"] == {"tag_copied": True}


def test_numbers_read_as_numbers_in_both_languages():
    server = flask.Flask("t")
    assert (
        formats.percent(0.7857142857142857),
        formats.duration_ms(850),
        formats.duration_ms(1234),
        formats.duration_ms(125_000),
    ) == ("79%", "850 ms", "1.2 s", "2 min 5 s")
    assert [formats.count(n, "{n} question", "{n} questions") for n in (0, 1, 2, 1200)] == [
        "0 questions",
        "1 question",
        "2 questions",
        "1,200 questions",
    ]
    assert formats.day(date(2026, 12, 7)) == "Dec 7, 2026" and formats.yes_no(True) == "yes"
    with server.test_request_context(headers={"Cookie": f"{LANG_COOKIE}=zh"}):
        assert formats.count(1, "{n} question", "{n} questions") == "1 个问题"
        assert (formats.duration_ms(850), formats.day(date(2026, 12, 7)), formats.yes_no(False)) == (
            "850 毫秒",
            "2026年12月7日",
            "否",
        )
        assert formats.weekdays()[0] == "周一"
    shanghai = formats.zone("Asia/Shanghai")
    assert formats.when(datetime(2026, 12, 7, 16, 30, tzinfo=UTC), shanghai) == "2026-12-08 00:30"
    assert formats.zone("Nowhere/Else") is UTC


def test_visitors_are_named_when_verified_and_labelled_shortly_otherwise():
    assert visitor_label("v-123", "Li Lei", "li@example.com") == "Li Lei"
    assert visitor_label("v-123", None, "li@example.com") == "li@example.com"
    label = visitor_label("3b8f0c2e-5d7a-4a7e-9a51-0c7c2f0d9e11", None, None)
    assert re.fullmatch(r"Visitor [0-9A-F]{4}", label), label
    assert label == visitor_label("3b8f0c2e-5d7a-4a7e-9a51-0c7c2f0d9e11", "", "")  # stable per visitor


def test_exports_write_timestamps_in_the_tenants_time_zone():
    import openpyxl

    from analytics import exports

    ctx = make_tenant("Export")
    sent = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    add_conversation(ctx.id, "v1", sent, messages=[question("几点发货？", sent)])
    period = Period(date(2026, 3, 1), date(2026, 3, 3))
    utc = b"".join(exports.iter_export(ctx.id, "conversations", "csv", period)).decode("utf-8-sig")
    local = b"".join(exports.iter_export(ctx.id, "conversations", "csv", period, "Asia/Shanghai")).decode("utf-8-sig")
    assert "2026-03-02T09:30:00Z" in utc and "+08:00" not in utc  # the API's default stays UTC
    assert "2026-03-02T17:30:00+08:00" in local and "09:30:00Z" not in local
    workbook = openpyxl.load_workbook(
        io.BytesIO(b"".join(exports.iter_export(ctx.id, "conversations", "xlsx", period, "Asia/Shanghai")))
    )
    started = [row[1] for row in workbook.active.iter_rows(min_row=2, values_only=True)]
    assert started == [datetime(2026, 3, 2, 17, 30)]


def test_domain_errors_are_chinese_in_chinese_mode_and_english_otherwise(app):
    from dash_app.components import attempt
    from dash_app.pages import knowledge, knowledge_faq, records

    owner = owner_of(make_tenant("Errors"))
    actions = {
        "upload": lambda: knowledge.upload_documents(owner, [("empty.csv", b"")]),
        "faq": lambda: knowledge_faq.save_faq_entry(owner, None, "", "Yes."),
        "records": lambda: records.preview_upload(owner, "orders.csv", b"order_id,status\n1,shipped\n", "sku"),
        "period": lambda: Period.parse("2026-03-09", "2026-03-01"),
    }
    shown = {}
    for lang in ("zh", "en"):
        with app.server.test_request_context(headers={"Cookie": f"{LANG_COOKIE}={lang}"}):
            for name, action in actions.items():
                _, error = attempt(action)
                shown[lang, name] = " ".join(str(part) for part in _texts(error))
    assert shown["zh", "upload"] == "empty.csv: 文件是空的（0 字节）。请选择有内容的文件重新上传。"
    assert shown["zh", "faq"] == "FAQ 条目需要同时填写问题和答案。"
    assert shown["zh", "records"] == "找不到键列“sku”；现有的列：order_id, status"
    assert shown["zh", "period"] == "时间段的结束日期（2026-03-01）早于开始日期（2026-03-09）。"
    assert shown["en", "upload"].startswith("empty.csv: The file is empty (0 bytes).")
    assert shown["en", "period"] == "The period ends (2026-03-01) before it starts (2026-03-09)."


def _texts(node):
    """The text of a notice (a Dash component tree)."""
    children = getattr(node, "children", node)
    if isinstance(children, str):
        return [children]
    if isinstance(children, list | tuple):
        return [text for child in children for text in _texts(child)]
    return [] if children is None else _texts(children)
