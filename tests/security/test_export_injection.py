"""Issue 20 items 3 and 4: customer text opened as a formula, and one character broke the XLSX export.

The attacks: a visitor's message `=HYPERLINK("http://…?"&A1,"click me")` (or a feedback comment, or
an FAQ answer) left every export as a live formula; a message with `\\uffff` made
`GET /api/v1/analytics/export?dataset=messages&format=xlsx` answer 200 with 0 bytes, and `\\u000b`
cut the connection mid-response. Now formula-leading cells are plain text in CSV and XLSX on every
export path (API, Dash download and stream, CLI, audit log), characters XML cannot hold are replaced,
and control characters never get into chat in the first place (HTTP and WebSocket).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zipfile
from datetime import date

import openpyxl
import pytest
import websockets
from sqlalchemy import select

from analytics import exports
from analytics.period import Period
from core import audit
from core.db import tenant_session_sync
from core.models import Conversation, Feedback, Message
from dash_app.auth import SignedInUser
from dash_app.pages.export import export_file
from tests.factories import make_tenant
from tests.support.analytics_seed import add_conversation, at, question, reply

pytestmark = pytest.mark.integration
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))
HOSTILE = [
    '=HYPERLINK("http://127.0.0.1/?"&A1,"click me")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]
NUMBER = re.compile(r"-\d+(\.\d+)?")
BROKEN = "order \uffff 10002 \u000b shipped"  # stored before the chat boundary cleaned text


@pytest.fixture
def shop():
    tenant = make_tenant("Export cells")
    add_conversation(
        tenant.id,
        "v-hostile",
        at(2, 9),
        messages=[
            *(question(text, at(2, 9, i)) for i, text in enumerate(HOSTILE)),
            question(BROKEN, at(2, 9, 10)),
            reply("=1+2 is the answer", at(2, 9, 11), latency_ms=5, rating=-1),
        ],
    )
    with tenant_session_sync(tenant.id) as session:
        session.execute(
            Feedback.__table__.update()
            .values(comment='=HYPERLINK("http://127.0.0.1")')
            .where(Feedback.tenant_id == tenant.id)
        )
    return tenant


def csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8-sig"))) for cell in row]


def assert_csv_safe(cells: list[str]) -> None:
    # A negative number (a rating of -1) is a number to a spreadsheet, not a formula.
    risky = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not NUMBER.fullmatch(c)]
    assert not risky, risky


def xlsx_texts(data: bytes) -> list[tuple[str, str]]:
    """(data_type, value) of every cell, and no <f> (formula) element anywhere in the sheet XML."""
    with zipfile.ZipFile(io.BytesIO(data)) as workbook:
        for name in workbook.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in workbook.read(name) and b"<f " not in workbook.read(name)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [(cell.data_type, cell.value) for row in sheet.iter_rows() for cell in row if cell.value is not None]


async def test_csv_exports_neutralise_formula_cells(client, shop) -> None:
    for dataset in ("messages", "feedback"):
        response = await client.get(
            "/api/v1/analytics/export",
            headers=shop.analyst,
            params={"dataset": dataset, "format": "csv", "start": "2026-03-02", "end": "2026-03-04"},
        )
        assert response.status_code == 200, response.text
        cells = csv_cells(response.content)
        assert_csv_safe(cells)
        if dataset == "messages":
            assert "'" + HOSTILE[0] in cells and "'-2+3" in cells  # the text itself is kept
        else:
            assert '\'=HYPERLINK("http://127.0.0.1")' in cells


async def test_xlsx_export_is_whole_and_formula_free(client, shop) -> None:
    response = await client.get(
        "/api/v1/analytics/export",
        headers=shop.analyst,
        params={"dataset": "messages", "format": "xlsx", "start": "2026-03-02", "end": "2026-03-04"},
    )
    assert response.status_code == 200
    assert len(response.content) > 1000  # was 0 bytes with \uffff, cut with \u000b
    cells = xlsx_texts(response.content)
    assert all(kind != "f" for kind, _ in cells)
    values = [value for _, value in cells]
    assert HOSTILE[0] in values and "=1+2 is the answer" in values  # kept as text, not evaluated
    assert "order \ufffd 10002 \ufffd shipped" in values


def test_every_other_export_path_is_safe(shop, tmp_path) -> None:
    user = SignedInUser(shop.id, shop.id, "analyst@example.com", "analyst")
    for fmt in ("csv", "xlsx"):
        _, dash_bytes = export_file(user, "feedback", fmt, PERIOD)  # the Dash download button
        written = tmp_path / f"cli.{fmt}"
        exports.write_export(shop.id, "messages", fmt, PERIOD, written)  # `kefu export`
        if fmt == "csv":
            assert_csv_safe(csv_cells(dash_bytes))
            assert_csv_safe(csv_cells(written.read_bytes()))
        else:
            assert all(kind != "f" for kind, _ in xlsx_texts(dash_bytes))
            assert all(kind != "f" for kind, _ in xlsx_texts(written.read_bytes()))
    with tenant_session_sync(shop.id) as session:
        audit.record(session, shop.id, None, "=cmd|' /C calc'!A0", "+target", {"note": "@x"})
    with tenant_session_sync(shop.id) as session:
        audit_cells = csv_cells("".join(audit.export_csv(session, shop.id)).encode())
    assert_csv_safe(audit_cells)


def stored_texts(tenant_id, visitor_id: str) -> list[str]:
    with tenant_session_sync(tenant_id) as session:
        return list(
            session.scalars(
                select(Message.text)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Message.role == "customer", Conversation.visitor_id == visitor_id)
            )
        )


async def test_chat_cleans_control_characters_over_http(client) -> None:
    tenant = make_tenant("Control chars")
    response = await client.post(
        "/api/v1/chat",
        headers={"X-Widget-Key": tenant.created.widget_key},
        json={"message": "where\u000b is\uffff my\u0007 order?\r\nthanks\u202e", "visitor_id": "ctl-http"},
    )
    assert response.status_code == 200, response.text
    assert stored_texts(tenant.id, "ctl-http") == ["where is my order?\nthanks\u202e"]
    only_controls = await client.post(
        "/api/v1/chat",
        headers={"X-Widget-Key": tenant.created.widget_key},
        json={"message": "\u000b\u0001\uffff", "visitor_id": "ctl-http"},
    )
    assert only_controls.status_code == 422 and "empty" in only_controls.json()["detail"]


def test_chat_cleans_control_characters_over_websocket(live_api) -> None:
    tenant = make_tenant("Control chars ws")
    url = live_api.replace("http", "ws") + f"/api/v1/chat/ws?key={tenant.created.widget_key}"

    async def talk() -> dict:
        async with websockets.connect(url) as socket:
            await socket.send(
                json.dumps({"type": "message", "message": "hello\u000b\uffff there", "visitor_id": "ctl-ws"})
            )
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
                if frame["type"] in ("final", "error"):
                    return frame

    frame = asyncio.run(talk())
    assert frame["type"] == "final", frame
    assert stored_texts(tenant.id, "ctl-ws") == ["hello there"]
