"""The admin app in headless Chromium: sign in, overview charts with data, upload a document until it is
ready, download an export and read it back with pandas. Screenshots go to the artifacts directory.

The Dash app runs for real on Werkzeug in a thread of this process, against the embedded test
database; uploads are indexed by the in-process Dramatiq worker of the `stub_worker` fixture.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from analytics import rollups
from core.db import tenant_session_sync
from core.models import KnowledgeGapQuestion, KnowledgeGapTopic, Message
from tests.factories import TenantCtx, make_tenant, qa_csv
from tests.support.analytics_seed import add_conversation, question, reply

pytestmark = pytest.mark.integration
PASSWORD = "password-123"
WAIT = 30_000  # ms: a cold Plotly bundle on a busy CI machine; a wait, not a speed check


@pytest.fixture(scope="module")
def shop() -> TenantCtx:
    """A tenant with a week of conversations ending yesterday, so the default period (last 30 days) has data."""
    ctx = make_tenant("Lotus")
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for days_ago in range(1, 8):
        for n in range(days_ago % 3 + 1):
            start = today - timedelta(days=days_ago, hours=n * 3 + 1)
            add_conversation(ctx.id, f"visitor-{days_ago}-{n}", start, csat=4 if n else None, messages=[
                question("退货政策是什么？" if n % 2 else "How long does delivery take?", start),
                reply("30天内免费退货。", start + timedelta(seconds=1), latency_ms=300 + 50 * n,
                      answered=n != 2, rating=1 if n == 0 else None),
            ])
    mars = add_conversation(ctx.id, "visitor-mars", today - timedelta(hours=2), messages=[
        question("Do you ship to Mars?", today - timedelta(hours=2)),
        reply("I don't know; a colleague will help.", today - timedelta(hours=2) + timedelta(seconds=1),
              latency_ms=500, answered=False, rating=-1,
              tool_calls=[{"name": "request_human", "arguments": {"reason": "unknown destination"}}]),
    ])
    with tenant_session_sync(ctx.id) as session:
        asked = session.scalars(select(Message).where(Message.conversation_id == mars,
                                                      Message.role == "customer")).one()
        topic = KnowledgeGapTopic(tenant_id=ctx.id, clustered_at=today, rank=0, label="shipping to Mars", count=1,
                                  examples=["Do you ship to Mars?"])
        session.add(topic)
        session.flush()
        session.add(KnowledgeGapQuestion(tenant_id=ctx.id, topic_id=topic.id, message_id=asked.id,
                                         asked_at=asked.created_at, text=asked.text))
        rollups.refresh(session, ctx.id, full=True, today=date.today())
    return ctx


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    expect(page.locator("#who")).to_contain_text(email, timeout=WAIT)


def test_sign_in_and_overview_charts_show_the_seeded_week(page: Page, admin_url, shop, artifacts_dir):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, admin_url, shop.created.admin_email)
    kpis = page.locator("#ov-kpis")
    expect(kpis).to_contain_text("Conversations", timeout=WAIT)
    expect(kpis.locator(".kpi-value").first).to_have_text("15", timeout=WAIT)  # 2+3+1+2+3+1+2 over a week, and today's
    expect(page.locator("#ov-volume .main-svg").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#ov-volume .bars path").first).to_be_attached(timeout=WAIT)
    expect(page.locator("#ov-heatmap .hm, #ov-heatmap .heatmaplayer image").first).to_be_attached(timeout=WAIT)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir / "dash-overview.png"), full_page=True)
    assert all(url.startswith(admin_url) for url in requested), [u for u in requested if not u.startswith(admin_url)]
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_upload_a_document_and_see_it_become_ready(page: Page, admin_url, shop, stub_worker, artifacts_dir,
                                                   tmp_path):
    faq = tmp_path / "tea_faq.csv"
    faq.write_bytes(qa_csv([("t1", "Which tea is best for sleep?", "Chamomile or a light oolong."),
                            ("t2", "怎么泡绿茶？", "80度水，泡两分钟。")]))
    sign_in(page, admin_url, shop.created.admin_email)
    page.click("#nav-knowledge")
    page.locator("#kn-upload input[type=file]").set_input_files(str(faq))
    expect(page.locator("#kn-upload-result")).to_contain_text("tea_faq.csv: created", timeout=WAIT)
    row = page.locator("#kn-table .ag-row", has_text="tea_faq.csv")
    expect(row).to_contain_text("ready", timeout=WAIT)
    expect(row).to_contain_text("2", timeout=WAIT)
    page.fill("#kn-question", "怎么泡绿茶")
    page.click("#kn-ask")
    expect(page.locator("#kn-best-answer")).to_have_text("80度水，泡两分钟。", timeout=WAIT)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts_dir / "dash-knowledge.png"), full_page=True)


def test_analyst_downloads_an_export_and_pandas_reads_it(page: Page, admin_url, shop, tmp_path):
    analyst = f"analyst-{shop.created.name.split()[-1]}@example.com"
    sign_in(page, admin_url, analyst)
    page.click("#nav-export")
    page.locator("#ex-format").get_by_text("parquet").click()
    with page.expect_download() as info:
        page.click("#ex-download-button")
    download = info.value
    assert download.suggested_filename.endswith(".parquet")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    frame = pd.read_parquet(io.BytesIO(path.read_bytes()))
    assert len(frame) == 15 and frame["visitor_id"].str.startswith("visitor-").all()


def test_read_a_transcript_with_its_tool_call(page: Page, admin_url, shop):
    sign_in(page, admin_url, shop.created.admin_email)
    page.click("#nav-conversations")
    page.locator("#cv-flags").get_by_text("Handed off").click()  # none were handed off
    expect(page.locator("#cv-list")).to_contain_text("No conversations match", timeout=WAIT)
    page.locator("#cv-flags").get_by_text("Handed off").click()
    page.fill("#cv-search", "Mars")
    page.press("#cv-search", "Enter")
    row = page.locator("#cv-table .ag-row", has_text="Do you ship to Mars?")
    expect(row).to_have_count(1, timeout=WAIT)
    row.locator(".ag-selection-checkbox input").check()
    transcript = page.locator("#cv-transcript-messages")
    expect(transcript).to_contain_text("I don't know; a colleague will help.", timeout=WAIT)
    transcript.get_by_text("1 tool call").click()
    expect(transcript).to_contain_text("request_human", timeout=WAIT)


def test_answer_a_knowledge_gap_with_one_click(page: Page, admin_url, shop, stub_worker):
    sign_in(page, admin_url, shop.created.admin_email)
    page.click("#nav-gaps")
    card = page.locator(".gap", has_text="shipping to Mars")
    expect(card).to_contain_text("1 question", timeout=WAIT)
    card.locator("textarea").fill("Not yet — we ship within China and to Europe.")
    card.get_by_role("button", name="Add FAQ entry").click()
    expect(page.locator("#gap-result")).to_contain_text("Added the FAQ entry", timeout=WAIT)
    page.click("#nav-knowledge")
    expect(page.locator("#faq-table")).to_contain_text("Do you ship to Mars?", timeout=WAIT)
    expect(page.locator("#kn-table .ag-row", has_text="kefu-manual-faq.json")).to_contain_text("ready", timeout=WAIT)


def test_fix_an_uploaded_row_and_run_an_evaluation_in_the_background(page: Page, admin_url, shop, stub_worker,
                                                                       artifacts_dir, tmp_path):
    from dash_app.pages import knowledge
    from tests.support.dash_users import owner_of

    knowledge.upload_documents(owner_of(shop), [("rows_faq.csv", qa_csv([
        ("w1", "Do you sell gift wrapping?", "No."), ("w2", "Is there a loyalty card?", "Ask in store.")]))])
    sign_in(page, admin_url, shop.created.admin_email)
    page.click("#nav-knowledge")
    page.click("#rows-document")
    page.get_by_text("rows_faq (rows_faq.csv)").click()
    expect(page.locator("#rows-count")).to_contain_text("2 rows", timeout=WAIT)
    expect(page.locator("#rows-save")).to_be_disabled()  # no row selected yet
    page.locator("#rows-table .ag-row", has_text="gift wrapping").locator(".ag-selection-checkbox input").check()
    expect(page.locator("#rows-answer")).to_have_value("No.", timeout=WAIT)
    expect(page.locator("#rows-disable")).to_be_enabled()
    expect(page.locator("#rows-enable")).to_be_disabled()  # the row is not disabled
    expect(page.locator("#rows-revert")).to_be_disabled()  # nor changed yet
    page.fill("#rows-answer", "Yes, for 5 yuan per parcel.")
    page.click("#rows-save")
    expect(page.locator("#rows-result")).to_contain_text("Saved: row w1", timeout=WAIT)
    expect(page.locator("#rows-table .ag-row", has_text="gift wrapping")).to_contain_text("edited", timeout=WAIT)
    page.fill("#kn-question", "Do you sell gift wrapping?")
    page.click("#kn-ask")
    expect(page.locator("#kn-best-answer")).to_have_text("Yes, for 5 yuan per parcel.", timeout=WAIT)

    questions = tmp_path / "labelled.csv"
    questions.write_bytes(b"question,expected\nDo you sell gift wrapping?,w1\nIs there a loyalty card?,w2\n")
    page.click("#nav-accuracy")
    page.locator("#acc-upload input[type=file]").set_input_files(str(questions))
    expect(page.locator("#acc-result")).to_contain_text("Queued", timeout=WAIT)
    expect(page.locator("#acc-status")).to_contain_text("“labelled.csv” is done", timeout=WAIT)
    expect(page.locator("#acc-runs .ag-row", has_text="labelled.csv")).to_contain_text("done", timeout=WAIT)
    page.screenshot(path=str(artifacts_dir / "dash-accuracy.png"), full_page=True)
    assert page.console_errors == []


def test_owner_rotates_the_identity_secret_and_reads_the_audit_log(page: Page, admin_url, shop, artifacts_dir):
    from core.tenancy import identity_secret

    before = identity_secret(shop.id)
    sign_in(page, admin_url, shop.created.admin_email)
    page.click("#nav-settings")
    expect(page.locator("#identity-secret")).to_have_text(before, timeout=WAIT)
    page.click("#identity-rotate")
    expect(page.locator("#identity-result")).to_contain_text("Rotated", timeout=WAIT)
    after = identity_secret(shop.id)
    assert after != before
    expect(page.locator("#identity-secret")).to_have_text(after, timeout=WAIT)
    page.fill("#privacy-retention", "365")
    page.click("#privacy-save")
    expect(page.locator("#privacy-result")).to_contain_text("365 days", timeout=WAIT)
    page.reload()
    audit = page.locator("#audit-table")
    expect(audit).to_contain_text("identity_secret.rotate", timeout=WAIT)
    expect(audit).to_contain_text("settings.retention", timeout=WAIT)
    assert after not in audit.inner_text()
    page.locator("#audit-download").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "dash-settings-privacy.png"), full_page=True)
