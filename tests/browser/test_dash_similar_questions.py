"""Similar questions and the tenant's own threshold in the admin app, in headless Chromium, in English and
Chinese, on a desktop and a phone: add wordings to an uploaded row, accept a wording suggested from real
traffic, read a run's precision/coverage curve and apply its threshold. Screenshots go to the artifacts
directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from core.db import tenant_session_sync
from core.models import KnowledgeGapQuestion, KnowledgeGapTopic, Message
from dash_app.pages import knowledge
from knowledge import commands
from knowledge.retrieval import retrieve_sync
from tests.factories import TenantCtx, make_tenant
from tests.support.admin_sign_in import WAIT, sign_in
from tests.support.analytics_seed import add_conversation, question, reply
from tests.support.dash_users import owner_of
from tests.support.views import EVERY_VIEW

pytestmark = pytest.mark.integration
TOPICS = ["refund", "shipping", "invoice", "warranty", "coupon", "gift card", "password", "account", "size chart",
          "store hours", "returns label", "pre-order", "back order", "price match", "student discount",
          "newsletter", "loyalty points", "bulk order", "gift wrap", "tracking number", "cash on delivery"]
GAP = "cash on delivery for big orders, is that possible"


def _shop(stub_worker) -> TenantCtx:
    """A tenant with an uploaded FAQ and one knowledge-gap question that its cash-on-delivery row answers."""
    tenant = make_tenant("Lantern")
    rows = [f"t{i},How does the {topic} work?,The {topic} works like this: see our {topic} page."
            for i, topic in enumerate(TOPICS)]
    knowledge.upload_documents(owner_of(tenant), [("faq.csv", ("id,question,answer\n" + "\n".join(rows)).encode())])
    stub_worker()
    asked_at = datetime.now(UTC) - timedelta(hours=1)
    conversation = add_conversation(tenant.id, "visitor-gap", asked_at, messages=[
        question(GAP, asked_at), reply("I don't know.", asked_at + timedelta(seconds=1), latency_ms=300, answered=False)])
    with tenant_session_sync(tenant.id) as session:
        message = session.scalars(select(Message).where(Message.conversation_id == conversation,
                                                        Message.role == "customer")).one()
        topic = KnowledgeGapTopic(tenant_id=tenant.id, clustered_at=asked_at, rank=0, label="payment", count=1,
                                  examples=[GAP])
        session.add(topic)
        session.flush()
        session.add(KnowledgeGapQuestion(tenant_id=tenant.id, topic_id=topic.id, message_id=message.id,
                                         asked_at=asked_at, text=GAP))
    return tenant


@EVERY_VIEW
def test_add_similar_questions_and_accept_one_from_traffic(page: Page, admin_url, stub_worker, artifacts_dir,
                                                            lang, viewport) -> None:
    tenant = _shop(stub_worker)
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang, "/knowledge")
    page.click("#rows-document")
    page.get_by_text("faq (faq.csv)").click()
    row = page.locator("#rows-table .ag-row", has_text="How does the shipping work?")
    row.locator(".ag-selection-checkbox input").check()
    expect(page.locator("#rows-answer")).to_have_value("The shipping works like this: see our shipping page.",
                                                       timeout=WAIT)
    page.fill("#rows-similar", "when will my parcel arrive\nhow many days until it comes")
    page.click("#rows-similar-save")
    expect(page.locator("#rows-result")).to_contain_text("t1", timeout=WAIT)
    expect(page.locator("#rows-table .ag-row", has_text="How does the shipping work?")).to_contain_text(
        "when will my parcel arrive | how many days until it comes", timeout=WAIT)

    page.click("#phr-load")
    card = page.locator(".suggestion", has_text=GAP)
    expect(card).to_contain_text("How does the cash on delivery work?", timeout=WAIT)
    page.locator("#similar-suggestions").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-similar-{lang}-{viewport[0]}.png"), full_page=True)
    card.locator("button").first.click()
    expect(page.locator("#phr-result")).to_contain_text("t20", timeout=WAIT)
    expect(page.locator(".suggestion", has_text=GAP)).to_have_count(0, timeout=WAIT)
    stub_worker()
    assert retrieve_sync(tenant.id, GAP, 1)[0].source_ref == "t20"
    assert retrieve_sync(tenant.id, "how many days until it comes", 1)[0].source_ref == "t1"
    if lang == "zh":
        expect(page.locator("#similar-suggestions h3")).to_have_text("建议的相似问法")
        expect(page.locator("#rows-similar-save")).to_have_text("保存相似问法")
    assert page.console_errors == []  # type: ignore[attr-defined]


@EVERY_VIEW
def test_read_a_runs_threshold_curve_and_apply_its_recommendation(page: Page, admin_url, stub_worker,
                                                                  artifacts_dir, lang, viewport) -> None:
    tenant = _shop(stub_worker)
    labelled = [f"How does the {topic} work?,t{i}" for i, topic in enumerate(TOPICS)]
    labelled += ["Who won the football match yesterday?,", "What is the capital of Peru?,", "Sing me a song,",
                 "How tall is Mount Everest?,", "Recommend a good film,"]
    commands.queue_evaluation(tenant.id, ("question,expected\n" + "\n".join(labelled)).encode(), name="my set")
    stub_worker()
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang, "/accuracy")
    page.locator("#acc-runs .ag-row", has_text="my set").locator(".ag-selection-checkbox input").check()
    panel = page.locator("#acc-threshold")
    expect(panel.locator(".js-plotly-plot")).to_be_visible(timeout=WAIT)
    button = page.locator("#acc-apply")
    expect(button).to_be_enabled(timeout=WAIT)
    recommended = button.inner_text().split()[-1]
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / f"dash-threshold-{lang}-{viewport[0]}.png"), full_page=True)
    button.click()
    expect(page.locator("#acc-apply-result")).to_contain_text(recommended, timeout=WAIT)
    expect(page.locator("#acc-apply")).to_be_disabled(timeout=WAIT)  # it is the threshold now
    from knowledge.evaluation import tenant_threshold

    assert f"{tenant_threshold(tenant.id):.2f}" == recommended
    if lang == "zh":
        expect(page.locator("#acc-apply-result")).to_contain_text("已应用")
    assert page.console_errors == []  # type: ignore[attr-defined]
