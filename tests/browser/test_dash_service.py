"""The Conversations page shows how people served hand-offs (volume, first human response, time to
resolve, per agent and per day), in English and Chinese; screenshots on a desktop and a phone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from core.db import tenant_session_sync
from core.tenancy import add_user
from tests.browser.test_dash_languages import DESKTOP, PHONE, open_signed_in
from tests.factories import TenantCtx, make_tenant
from tests.support.service_seed import agent_message, seed_handoff

pytestmark = pytest.mark.integration
WAIT = 30_000


def _served(session, tenant_id, at, agent, *, reply_after, resolve_after=None) -> None:
    conversation_id = seed_handoff(session, tenant_id, at, agent=agent, resolve_after=resolve_after)
    if agent and reply_after:
        agent_message(session, tenant_id, conversation_id, at + reply_after, "Hello, Mei here.", agent)


@pytest.fixture(scope="module")
def served() -> TenantCtx:
    ctx = make_tenant("Service")
    day = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0) - timedelta(days=2)
    with tenant_session_sync(ctx.id) as session:
        mei = add_user(session, ctx.id, f"mei-{uuid.uuid4().hex[:6]}@example.com", "password-123", "agent",
                       display_name="小美")
        tom = add_user(session, ctx.id, f"tom-{uuid.uuid4().hex[:6]}@example.com", "password-123", "agent",
                       display_name="Tom")
        session.flush()
        _served(session, ctx.id, day, mei, reply_after=timedelta(seconds=40), resolve_after=timedelta(minutes=12))
        _served(session, ctx.id, day + timedelta(hours=1), mei, reply_after=timedelta(minutes=2))
        _served(session, ctx.id, day + timedelta(days=1), tom, reply_after=timedelta(seconds=20),
                resolve_after=timedelta(minutes=5))
        _served(session, ctx.id, day + timedelta(days=1, hours=2), None, reply_after=None)  # nobody took it
    return ctx


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_conversations_page_shows_human_service_per_agent_and_day(
    browser, admin_url, served, artifacts_dir, lang
) -> None:
    page = open_signed_in(browser, admin_url, served.created.admin_email, lang=lang, viewport=DESKTOP)
    page.goto(f"{admin_url}/conversations")
    section = page.locator("#cv-service-section")
    expect(section).to_contain_text("人工服务" if lang == "zh" else "Human service", timeout=WAIT)
    expect(section.locator(".kpi-value").first).to_have_text("4")  # hand-offs in the period
    agents = page.locator("#cv-agents")
    expect(agents).to_contain_text("小美", timeout=WAIT)  # AG Grid loads its bundle on first use
    expect(agents).to_contain_text("Tom")
    expect(agents).to_contain_text("（未分配）" if lang == "zh" else "(unassigned)")
    expect(page.locator("#cv-service-days")).to_contain_text(str((datetime.now(UTC) - timedelta(days=2)).date()))
    page.wait_for_load_state("networkidle")
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-conversations-service-{lang}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    section.screenshot(path=str(artifacts_dir / f"dash-conversations-service-{lang}-phone.png"))
    page.context.close()
