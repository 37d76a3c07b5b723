"""The admin app over HTTP (Flask test client): sign-in, the session, and callbacks checking roles server-side."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from core.db import tenant_session_sync
from core.models import Document, User
from dash_app.app import create_app
from dash_app.pages import knowledge
from tests.factories import qa_csv
from tests.support.dash_users import owner_of

PASSWORD = "password-123"


@pytest.fixture(scope="module")
def app():
    return create_app()


@pytest.fixture
def client(app):
    return app.server.test_client()


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def call(client, app, trigger: str, value: Any, state: dict[str, Any] | None = None) -> Any:
    """Fire the callback that `trigger` ("id.prop") feeds, as the browser would; returns its response JSON."""
    dependencies = client.get("/_dash-dependencies").get_json()
    spec = next(d for d in dependencies if any(f"{i['id']}.{i['property']}" == trigger for i in d["inputs"]))
    state = state or {}
    outputs = [{"id": part.split(".")[0], "property": part.split(".")[1].split("@")[0]}
               for part in spec["output"].strip(".").split("...")]
    payload = {
        "output": spec["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": [{"id": i["id"], "property": i["property"],
                    "value": value if f"{i['id']}.{i['property']}" == trigger else None} for i in spec["inputs"]],
        "state": [{"id": s["id"], "property": s["property"], "value": state.get(f"{s['id']}.{s['property']}")}
                  for s in spec["state"]],
        "changedPropIds": [trigger],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code in (200, 204), response.data
    return response.get_json()


def test_signed_out_pages_redirect_and_data_endpoints_refuse(client):
    assert client.get("/").headers["Location"].endswith("/login")
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.get("/export/file?dataset=messages&format=csv").status_code == 401


def test_wrong_password_is_refused_with_one_message(client, tenant):
    response = sign_in(client, tenant.created.admin_email, "wrong-password")
    assert b"Wrong email or password." in response.data
    assert client.get("/_dash-layout").status_code == 401


def test_sign_in_shows_the_tenant_and_role_and_sign_out_ends_it(client, tenant):
    assert sign_in(client, tenant.created.admin_email).headers["Location"] == "/"
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    shown = json.dumps(layout.get_json(), ensure_ascii=False)
    assert tenant.created.name in shown and tenant.created.admin_email in shown and " · owner" in shown
    client.get("/logout")
    assert client.get("/_dash-layout").status_code == 401


def test_deactivated_user_loses_access_at_once(client, tenant):
    email = f"analyst-{tenant.created.name.split()[-1]}@example.com"
    sign_in(client, email)
    assert client.get("/_dash-layout").status_code == 200
    with tenant_session_sync(tenant.id) as session:
        session.execute(update(User).where(User.email == email).values(is_active=False))
    assert client.get("/_dash-layout").status_code == 401


def test_analyst_delete_callback_returns_an_error_and_changes_nothing(app, client, tenant, stub_worker):
    knowledge.upload_documents(owner_of(tenant), [("faq.csv", qa_csv([("1", "Q?", "A.")]))])
    stub_worker()
    document_id = knowledge.document_rows(owner_of(tenant))[0]["id"]
    sign_in(client, f"analyst-{tenant.created.name.split()[-1]}@example.com")
    result = call(client, app, "kn-delete.n_clicks", 1, {"kn-table.selectedRows": [{"id": document_id}]})
    assert "needs the admin role" in str(result)
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(Document.id)).all() == [uuid.UUID(document_id)]


def test_owner_cannot_delete_another_tenants_document_through_the_callback(app, client, tenant, other_tenant,
                                                                            stub_worker):
    knowledge.upload_documents(owner_of(other_tenant), [("faq.csv", qa_csv([("1", "Q?", "A.")]))])
    stub_worker()
    their_id = knowledge.document_rows(owner_of(other_tenant))[0]["id"]
    sign_in(client, tenant.created.admin_email)
    result = call(client, app, "kn-delete.n_clicks", 1, {"kn-table.selectedRows": [{"id": their_id}]})
    assert f"No document {their_id}" in str(result)
    with tenant_session_sync(other_tenant.id) as session:
        assert session.scalars(select(Document.id)).all() == [uuid.UUID(their_id)]


def test_analyst_cannot_edit_an_uploaded_row_or_queue_an_evaluation_through_callbacks(app, client, tenant,
                                                                                       stub_worker):
    from core.models import EvaluationRun, FaqOverride

    knowledge.upload_documents(owner_of(tenant), [("faq.csv", qa_csv([("1", "Q?", "A.")]))])
    stub_worker()
    document_id = knowledge.document_rows(owner_of(tenant))[0]["id"]
    sign_in(client, f"analyst-{tenant.created.name.split()[-1]}@example.com")
    result = call(client, app, "rows-save.n_clicks", 1, {"rows-document.value": document_id, "rows-ref.value": "1",
                                                         "rows-question.value": "Q?", "rows-answer.value": "B."})
    assert "needs the admin role" in str(result)
    csv = "data:text/csv;base64,cXVlc3Rpb24sZXhwZWN0ZWQKUT8sMQo="  # question,expected / Q?,1
    assert "needs the admin role" in str(call(client, app, "acc-upload.contents", csv,
                                              {"acc-upload.filename": "set.csv"}))
    with tenant_session_sync(tenant.id) as session:
        assert session.scalars(select(FaqOverride)).all() == []
        assert session.scalars(select(EvaluationRun)).all() == []


def test_every_page_renders_for_an_analyst(app, client, tenant):
    sign_in(client, f"analyst-{tenant.created.name.split()[-1]}@example.com")
    for path in ("/", "/conversations", "/knowledge", "/accuracy", "/satisfaction", "/gaps", "/export", "/status",
                 "/settings"):
        result = call(client, app, "url.pathname", path)
        assert result["response"]["page"]["children"], path


def test_repeated_wrong_passwords_lock_the_sign_in_form(client, tenant):
    for _ in range(5):
        assert sign_in(client, tenant.created.admin_email, "wrong-password").status_code == 401
    locked = sign_in(client, tenant.created.admin_email)
    assert locked.status_code == 429 and b"Too many failed logins" in locked.data
    assert client.get("/_dash-layout").status_code == 401


def test_streamed_export_link_serves_only_the_signed_in_tenant(client, tenant, other_tenant):
    from datetime import UTC, datetime

    import pandas as pd

    from tests.support.analytics_seed import add_conversation, question

    now = datetime.now(UTC)
    mine = add_conversation(tenant.id, "mine", now, messages=[question("mine?", now)])
    add_conversation(other_tenant.id, "theirs", now, messages=[question("theirs?", now)])
    sign_in(client, f"analyst-{tenant.created.name.split()[-1]}@example.com")
    today = now.date().isoformat()
    response = client.get(f"/export/file?dataset=conversations&format=csv&start={today}&end={today}")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    frame = pd.read_csv(io.BytesIO(response.data))
    assert list(frame["conversation_id"].astype(str)) == [str(mine)]
    refused = client.get("/export/file?dataset=users&format=csv")
    assert refused.status_code == 422 and b"dataset must be one of" in refused.data


def test_production_refuses_the_development_secret(monkeypatch):
    from pydantic import ValidationError

    from core.settings import get_settings

    monkeypatch.setenv("KEFU_ENV", "production")
    monkeypatch.setenv("KEFU_APP_DB_PASSWORD", "a-real-password")
    monkeypatch.delenv("KEFU_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(ValidationError, match="KEFU_SECRET_KEY"):
            create_app()
        monkeypatch.setenv("KEFU_SECRET_KEY", "x" * 40)
        get_settings.cache_clear()
        production = create_app().server
        assert production.secret_key == "x" * 40 and production.config["SESSION_COOKIE_SECURE"] is True
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_an_agent_is_sent_to_the_inbox_and_sees_no_reports(app, client, tenant):
    from core.tenancy import add_user

    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    with tenant_session_sync(tenant.id) as session:
        add_user(session, tenant.id, email, PASSWORD, "agent", display_name="Lin")
    assert sign_in(client, email).headers["Location"] == "/"
    for path in ("/", "/conversations", "/export", "/settings"):
        page = json.dumps(call(client, app, "url.pathname", path)["response"]["page"]["children"])
        assert "/inbox" in page and "open-inbox" in page, path
        assert "Conversations_kpi" not in page and "keys-table" not in page
    assert client.get("/export/file?dataset=messages&format=csv").status_code in (401, 403)
