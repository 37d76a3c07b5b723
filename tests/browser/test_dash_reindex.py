"""The admin's way out for a failed or stuck document (issue 20 item 5): select it, "Run again", watch it become ready.

Screens in English on a desktop and in Chinese on a phone; the Dash app runs on Werkzeug in a
thread, the re-sent job is indexed by the in-process worker of the `stub_worker` fixture.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from knowledge import commands, indexing
from knowledge.tasks import ingest_document
from tests.factories import make_tenant, qa_csv
from tests.support.admin_sign_in import WAIT, sign_in

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("lang", "viewport"), [("en", (1440, 930)), ("zh", (390, 844))], ids=["en-desktop", "zh-phone"]
)
def test_run_a_failed_document_again(
    page: Page, admin_url, stub_worker, artifacts_dir, monkeypatch, lang, viewport
) -> None:
    tenant = make_tenant("Rescue")
    with monkeypatch.context() as patch:
        patch.setattr(ingest_document, "send", lambda *args, **kwargs: None)
        accepted = commands.upload_document(
            tenant.id,
            "returns_faq.csv",
            qa_csv(
                [
                    ("r1", "How do I return an item?", "Within 30 days, from My Orders."),
                    ("r2", "退货运费谁出？", "质量问题由我们承担运费。"),
                ]
            ),
        )
    indexing.mark_failed(
        tenant.id,
        accepted.document_id,
        None,
        "Processing failed after several attempts (WorkerKilled). Upload the file again.",
    )
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    sign_in(page, admin_url, tenant.created.admin_email, lang, "/knowledge")
    row = page.locator("#kn-table .ag-row", has_text="returns_faq.csv")
    expect(row).to_contain_text("失败" if lang == "zh" else "failed", timeout=WAIT)
    button = page.locator("#kn-reindex")
    expect(button).to_be_disabled()  # nothing selected yet
    row.locator(".ag-selection-checkbox input").check()
    expect(button).to_have_text("重新处理" if lang == "zh" else "Run again")
    button.click()
    expect(page.locator("#kn-reindex-result")).to_contain_text("returns_faq.csv", timeout=WAIT)
    expect(page.locator("#kn-reindex-result")).to_contain_text("已重新排队" if lang == "zh" else "Queued again")
    expect(row).to_contain_text("就绪" if lang == "zh" else "ready", timeout=WAIT)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(artifacts_dir / f"dash-reindex-{lang}-{viewport[0]}.png"), full_page=True)
    assert page.console_errors == []  # type: ignore[attr-defined]
