"""Exports read back with pandas: right rows, right tenant, every format; the streamed API and its errors."""

from __future__ import annotations

import io
import json
from datetime import date

import pandas as pd
import pytest

from analytics import export_writers, exports, rollups
from analytics.period import Period
from core.db import tenant_session_sync
from core.errors import ValidationFailed
from tests.support.analytics_seed import add_conversation, at, question, reply, seed_history

pytestmark = pytest.mark.integration
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))
READERS = {
    "csv": lambda data: pd.read_csv(io.BytesIO(data)),
    "parquet": lambda data: pd.read_parquet(io.BytesIO(data)),
    "xlsx": lambda data: pd.read_excel(io.BytesIO(data)),
}


@pytest.fixture
def seeded(tenant, other_tenant):
    history = seed_history(tenant.id)
    add_conversation(other_tenant.id, "b-visitor", at(2, 9), messages=[
        question("B's secret question", at(2, 9)), reply("B's answer", at(2, 9, 0, 1), latency_ms=10, rating=1),
    ])
    for tid in (tenant.id, other_tenant.id):
        with tenant_session_sync(tid) as session:
            rollups.refresh(session, tid, today=date(2026, 3, 6))
    return history


def export_frame(tenant_id, dataset, fmt, period=PERIOD) -> pd.DataFrame:
    return READERS[fmt](b"".join(exports.iter_export(tenant_id, dataset, fmt, period)))


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_messages_export_in_every_format(tenant, seeded, fmt):
    frame = export_frame(tenant.id, "messages", fmt)
    assert len(frame) == 9  # c5's messages fall after the period, B's belong to another tenant
    assert "B's secret question" not in set(frame.text)
    assert frame.role.tolist().count("assistant") == 4
    assert sorted(frame.latency_ms.dropna().astype(int)) == [400, 600, 800, 1200]
    first = frame[frame.text == "Returns are free within 30 days."].iloc[0]
    assert json.loads(first.citations)[0]["source_ref"] == "faq-3" and int(first.rating) == 1
    assert pd.to_datetime(frame.created_at).min().strftime("%Y-%m-%d %H:%M") == "2026-03-02 09:00"


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_conversations_feedback_and_daily(tenant, seeded, fmt):
    # Parquet is written unordered (readers sort on load), so order by time here as a reader would.
    conversations = export_frame(tenant.id, "conversations", fmt).sort_values(["started_at", "conversation_id"]).reset_index(drop=True)
    assert sorted(conversations.visitor_id) == ["v1", "v1", "v2", "v3"]
    assert conversations.csat.dropna().astype(int).tolist() == [5, 2]
    feedback = export_frame(tenant.id, "feedback", fmt)
    assert sorted(feedback.rating.astype(int)) == [-1, 1, 1]
    assert set(feedback.question) == {"How do I return shoes?", "Do you ship to Mars?", "Where is my order 42?"}
    daily = export_frame(tenant.id, "daily", fmt).sort_values("day").reset_index(drop=True)
    assert daily.conversations.astype(int).tolist() == [2, 0, 2]
    assert daily.messages.astype(int).tolist() == [6, 0, 3]
    assert daily.answer_rate.iloc[0] == pytest.approx(2 / 3) and pd.isna(daily.answer_rate.iloc[1])


def test_csv_streams_in_chunks(tenant, seeded, monkeypatch):
    monkeypatch.setattr(export_writers, "CHUNK_BYTES", 1)  # pass on every block COPY sends
    chunks = list(exports.iter_export(tenant.id, "messages", "csv", PERIOD))
    assert len(chunks) >= 5
    assert len(pd.read_csv(io.BytesIO(b"".join(chunks)))) == 9
    written = b"".join(chunks).decode()
    assert "2026-03-02T09:00:00Z" in written and ",true," in written  # ISO-8601 UTC, plain booleans


def test_parquet_writes_a_row_group_per_batch(tenant, seeded, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(export_writers, "ROW_GROUP_ROWS", 4)
    data = b"".join(exports.iter_export(tenant.id, "messages", "parquet", PERIOD))
    assert pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups == 3


def test_empty_period_gives_a_header_only_file(tenant, seeded):
    frame = export_frame(tenant.id, "messages", "parquet", Period(date(2025, 1, 1), date(2025, 1, 2)))
    assert frame.empty and "latency_ms" in frame.columns


def test_write_export_to_a_file(tenant, seeded, tmp_path):
    target = tmp_path / "feedback.xlsx"
    size = exports.write_export(tenant.id, "feedback", "xlsx", PERIOD, target)
    assert size == target.stat().st_size and len(pd.read_excel(target)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["feedback.xlsx"]


@pytest.mark.parametrize(("dataset", "fmt", "message"), [
    ("chats", "csv", "Unknown dataset 'chats'; choose one of: conversations, messages, feedback, daily"),
    ("messages", "json", "Unknown format 'json'; choose one of: csv, parquet, xlsx"),
])
def test_unknown_dataset_or_format(tenant, dataset, fmt, message):
    with pytest.raises(ValidationFailed, match=message):
        exports.iter_export(tenant.id, dataset, fmt, PERIOD)


def test_xlsx_refuses_more_rows_than_a_sheet_holds(tenant, seeded, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 5)
    with pytest.raises(ValidationFailed, match="9 rows do not fit in one XLSX sheet"):
        exports.iter_export(tenant.id, "messages", "xlsx", PERIOD)


# --- the API ---------------------------------------------------------------------------------------------

URL = "/api/v1/analytics/export"


@pytest.mark.parametrize("fmt", exports.FORMATS)
async def test_api_streams_the_export_to_an_analyst(client, tenant, seeded, fmt):
    response = await client.get(URL, params={"dataset": "messages", "format": fmt, "start": "2026-03-02",
                                             "end": "2026-03-04"}, headers=tenant.analyst)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(exports.MEDIA_TYPES[fmt].split(";")[0])
    assert response.headers["content-disposition"] == (
        f'attachment; filename="kefu-messages-2026-03-02_2026-03-04.{fmt}"')
    assert len(READERS[fmt](response.content)) == 9


async def test_api_export_is_scoped_to_the_callers_tenant(client, tenant, other_tenant, seeded):
    response = await client.get(URL, params={"dataset": "messages", "start": "2026-03-02", "end": "2026-03-04"},
                                headers=other_tenant.admin)
    frame = pd.read_csv(io.BytesIO(response.content))
    assert frame.text.tolist() == ["B's secret question", "B's answer"]


@pytest.mark.parametrize(("params", "fragment"), [
    ({"dataset": "chats"}, "Unknown dataset 'chats'"),
    ({"dataset": "messages", "format": "pdf"}, "Unknown format 'pdf'"),
    ({"dataset": "messages", "start": "2026-13-01"}, "`start` must be a date written YYYY-MM-DD"),
    ({"dataset": "messages", "start": "2026-03-05", "end": "2026-03-01"}, "before it starts"),
])
async def test_api_explains_bad_requests(client, tenant, params, fragment):
    response = await client.get(URL, params=params, headers=tenant.analyst)
    assert response.status_code in (400, 422)
    assert fragment in response.text


async def test_api_export_needs_credentials(client):
    response = await client.get(URL, params={"dataset": "messages"})
    assert response.status_code == 401


# --- the CLI ---------------------------------------------------------------------------------------------


def test_cli_export_writes_the_file(tenant, seeded, tmp_path):
    from click.testing import CliRunner

    from backend.cli import main

    target = tmp_path / "messages.parquet"
    result = CliRunner().invoke(main, ["export", "--tenant", str(tenant.id), "--dataset", "messages", "--format",
                                       "parquet", "--start", "2026-03-02", "--end", "2026-03-04", "--output",
                                       str(target)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(target)) == 9


def test_cli_export_explains_bad_input(tenant, tmp_path):
    from click.testing import CliRunner

    from backend.cli import main

    result = CliRunner().invoke(main, ["export", "--tenant", str(tenant.id), "--dataset", "chats", "--output",
                                       str(tmp_path / "x.csv")])
    assert result.exit_code != 0 and "Unknown dataset 'chats'" in result.output
    assert not (tmp_path / "x.csv").exists()
