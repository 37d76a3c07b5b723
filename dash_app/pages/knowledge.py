"""Knowledge: upload documents and watch them index, list and delete them, try a question.

Uploads go through the same services as the API (`knowledge.documents`, then the `ingest`
actor); the list refreshes itself while anything is queued or processing. The manual FAQ editor
is in `knowledge_faq`, the editor of uploaded FAQ rows in `knowledge_rows`, website sources in
`knowledge_sources`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from chat import engine
from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import KefuError, ServiceUnavailable, ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import (
    as_uuid,
    attempt,
    grid,
    grid_export_button,
    notice,
    records,
    register_grid_export,
    section,
    selected_ids,
)
from dash_app.formats import count, when, zone
from dash_app.i18n import error_text, t
from dash_app.pages import knowledge_faq, knowledge_phrasings, knowledge_rows, knowledge_sources
from knowledge import commands, documents
from knowledge.retrieval import retrieve_sync

DOCUMENT_COLUMNS = ["title", "filename", "status", "chunk_count", "version", "error", "updated_at", "id"]
PENDING = ("queued", "processing")


def document_rows(user: SignedInUser) -> list[dict[str, Any]]:
    """The tenant's documents, newest first (up to 500)."""
    with tenant_session_sync(user.tenant_id) as session:
        rows, _ = documents.list_documents(session, user.tenant_id, limit=500)
        tz = zone(user.timezone)
        return [{"id": str(d.id), "title": d.title, "filename": d.filename, "status": d.status,
                 "chunk_count": d.chunk_count, "version": d.version, "error": d.error or "",
                 "updated_at": when(d.updated_at, tz)} for d in rows]


def upload_documents(user: SignedInUser, files: list[tuple[str, bytes]]) -> list[str]:
    """Store each file and queue it for indexing; returns one line per file."""
    auth.require(user, "admin")
    if not files:
        raise ValidationFailed("Choose at least one file to upload.")
    lines, refused = [], []
    for name, data in files:
        try:
            accepted = commands.upload_document(user.tenant_id, name, data, actor=Actor("user", user.user_id))
        except ServiceUnavailable:
            raise  # the queue is down: the next files would fail the same way
        except KefuError as exc:  # one bad file does not stop the others
            refused.append(f"{name}: {error_text(exc.detail)}")
            continue
        lines.append(f"{accepted.filename}: {t(accepted.action.replace('_', ' '))}")
    if refused and not lines:
        raise ValidationFailed(" ".join(refused))
    return lines + [f"{t('refused')} {line}" for line in refused]


def delete_documents(user: SignedInUser, document_ids: list[str]) -> int:
    """Delete documents (and their chunks) of the user's tenant; another tenant's id is 'not found'."""
    auth.require(user, "admin")
    return commands.delete_documents(user.tenant_id, [as_uuid(value, "document id") for value in document_ids],
                                     actor=Actor("user", user.user_id))


def reindex_documents(user: SignedInUser, document_ids: list[str]) -> list[str]:
    """Queue failed or stuck documents to be indexed again; returns their file names."""
    auth.require(user, "admin")
    if not document_ids:
        raise ValidationFailed(t("Select a failed or stuck document first."))
    return [commands.reindex_document(user.tenant_id, as_uuid(value, "document id"),
                                      actor=Actor("user", user.user_id)).filename for value in document_ids]


def try_question(user: SignedInUser, question: str, top_k: int = 5, earlier: list[str] | None = None) -> dict[str, Any]:
    """What the live bot answers, after the admin's `earlier` questions in the same trial conversation.

    The answer runs the customer's pipeline (`chat.engine.rehearse`: turn reading, query variants,
    confidence gate, suggestions, provider) and is stored nowhere; the hits are what a plain search
    for the question finds, with their scores, to see why.
    """
    results = asyncio.run(engine.rehearse(user.tenant_id, [*(earlier or []), question]))
    final = results[-1]
    hits = retrieve_sync(user.tenant_id, question, top_k)
    return {"answer": final.answer, "confidence": round(final.confidence, 4), "handoff": final.handoff,
            "sources": [c.source_ref or "" for c in final.citations],
            "suggestions": [s.question for s in final.suggestions],
            "hits": [{"rank": i + 1, "score": round(h.score, 4), "dense": round(h.dense, 4),
                      "lexical": round(h.lexical, 4), "source_ref": h.source_ref or "",
                      "document_id": str(h.document_id), "text": h.text} for i, h in enumerate(hits)]}


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    upload = dcc.Upload(
        id="kn-upload", multiple=True, disabled=not admin, className="upload",
        children=html.Div("Upload — CSV, XLSX, JSON, Markdown, HTML, TXT, PDF, DOCX"),
    )
    rows = document_rows(user)
    return html.Div([
        html.H2(t("Knowledge")),
        section("Documents",
                upload if admin else notice(t("Only admins can change this.")),
                dcc.Loading(html.Div(id="kn-upload-result")),
                html.Div(notice("No documents yet. Upload your FAQ (a CSV or XLSX with question and answer columns) "
                                "above to get started.") if not rows else None, id="kn-empty"),
                documents_table(rows),
                html.Div([html.Button(t("Run again"), id="kn-reindex", disabled=True),
                          html.Button(t("Delete"), id="kn-delete", className="danger", disabled=True),
                          grid_export_button("kn-table")], className="row"),
                html.Div(id="kn-reindex-result"),
                html.Div(id="kn-delete-result"),
                dcc.Interval(id="kn-interval", interval=1500),
                dcc.Store(id="kn-refresh", data=0)),
        knowledge_sources.layout(user),
        knowledge_faq.layout(user),
        knowledge_rows.layout(user),
        knowledge_phrasings.layout(user),
        section("Try a question",
                html.Div([dcc.Input(id="kn-question", type="text", className="grow", debounce=False,
                                    placeholder="退货政策是什么？ / What is your return policy?"),
                          html.Button(t("Ask"), id="kn-ask"),
                          html.Button(t("New conversation"), id="kn-try-new", className="secondary")],
                         className="row"),
                # Earlier questions of the trial conversation: follow-ups are read as the widget reads them.
                dcc.Store(id="kn-try-turns", data=[]),
                dcc.Loading(html.Div(id="kn-answer"))),
    ])


def documents_table(rows: list[dict[str, Any]]) -> Any:
    """The documents table; rows carry their id, so a selection survives a refresh."""
    frame = _shown(rows)
    return grid(frame, "kn-table", columns=DOCUMENT_COLUMNS[:-1], select="multi", keep=["id"], wide=["title", "error"],
                export_name="documents")


def _shown(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Document rows for the table, the status and a failed document's error in the reader's language."""
    frame = pd.DataFrame(rows, columns=DOCUMENT_COLUMNS)
    return frame.assign(status=frame["status"].map(t), error=frame["error"].map(error_text))


def register(app: Any) -> None:
    @app.callback(Output("kn-table", "rowData"), Output("kn-interval", "disabled"),
                  Input("kn-interval", "n_intervals"), Input("kn-refresh", "data"))
    def refresh_documents(_: Any, __: Any) -> tuple[Any, bool]:
        rows = document_rows(auth.current_user())
        return records(_shown(rows)), not any(r["status"] in PENDING for r in rows)

    @app.callback(Output("kn-upload-result", "children"), Output("kn-refresh", "data", allow_duplicate=True),
                  Input("kn-upload", "contents"), State("kn-upload", "filename"), State("kn-refresh", "data"),
                  prevent_initial_call=True)
    def upload(contents: list[str] | None, names: list[str] | None, counter: int) -> tuple[Any, Any]:
        user = auth.current_user()
        lines, error = attempt(lambda: upload_documents(user, _decode(contents or [], names or [])))
        if error is not None:
            return error, no_update
        lines = lines or []
        kind = "error" if any(line.startswith(t("refused") + " ") for line in lines) else "success"
        return notice("; ".join(lines), kind), (counter or 0) + 1

    @app.callback(Output("kn-delete-result", "children"), Output("kn-refresh", "data", allow_duplicate=True),
                  Input("kn-delete", "n_clicks"), State("kn-table", "selectedRows"),
                  State("kn-refresh", "data"), prevent_initial_call=True)
    def delete(_: int, selected: list[dict[str, Any]] | None, counter: int) -> tuple[Any, Any]:
        user = auth.current_user()
        deleted, error = attempt(lambda: delete_documents(user, selected_ids(selected)))
        if error is not None:
            return error, no_update
        return notice(count(deleted, "Deleted {n} document.", "Deleted {n} documents."), "success"), (counter or 0) + 1

    @app.callback(Output("kn-reindex-result", "children"), Output("kn-refresh", "data", allow_duplicate=True),
                  Input("kn-reindex", "n_clicks"), State("kn-table", "selectedRows"),
                  State("kn-refresh", "data"), prevent_initial_call=True)
    def reindex(_: int, selected: list[dict[str, Any]] | None, counter: int) -> tuple[Any, Any]:
        user = auth.current_user()
        names, error = attempt(lambda: reindex_documents(user, selected_ids(selected)))
        if error is not None:
            return error, no_update
        return notice(t("Queued again: {names}.").format(names=", ".join(names or [])), "success"), (counter or 0) + 1

    @app.callback(Output("kn-answer", "children"), Output("kn-try-turns", "data"), Input("kn-ask", "n_clicks"),
                  Input("kn-question", "n_submit"), State("kn-question", "value"), State("kn-try-turns", "data"),
                  prevent_initial_call=True)
    def ask(_: Any, __: Any, question: str | None, earlier: list[str] | None) -> Any:
        user = auth.current_user()
        result, error = attempt(lambda: try_question(user, question or "", earlier=list(earlier or [])[-8:]))
        if error is not None:
            return error, no_update
        return _render_answer(result or {"answer": "", "hits": []}, len(earlier or [])), [*(earlier or []),
                                                                                           question or ""]

    @app.callback(Output("kn-try-turns", "data", allow_duplicate=True), Output("kn-answer", "children",
                                                                               allow_duplicate=True),
                  Input("kn-try-new", "n_clicks"), prevent_initial_call=True)
    def new_trial(_: Any) -> Any:
        return [], notice(t("New conversation started."))

    @app.callback(Output("kn-delete", "disabled"), Output("kn-reindex", "disabled"), Output("kn-empty", "children"),
                  Input("kn-table", "selectedRows"), Input("kn-table", "rowData"))
    def buttons_enabled(selected: list[dict[str, Any]] | None,
                        rows: list[dict[str, Any]] | None) -> tuple[bool, bool, Any]:
        """Delete acts on any selection, Run again on failed or stuck documents, only for admins; the
        empty-state hint goes once a file is in."""
        empty = None if rows else notice("No documents yet. Upload your FAQ (a CSV or XLSX with question and answer "
                                         "columns) above to get started.")
        admin = bool(selected) and auth.current_user().can("admin")
        stuck = {t(status) for status in ("failed", *PENDING)}
        rerun = admin and any(row.get("status") in stuck for row in selected or [])
        return not admin, not rerun, empty

    register_grid_export(app, "kn-table")
    knowledge_faq.register(app)
    knowledge_rows.register(app)
    knowledge_phrasings.register(app)
    knowledge_sources.register(app)


def _render_answer(result: dict[str, Any], earlier: int = 0) -> Any:
    parts: list[Any] = []
    if earlier:
        parts.append(html.Div(t("After {n} earlier questions in this conversation.").format(n=earlier),
                              className="muted"))
    answer = html.Span(result["answer"], id="kn-best-answer", className="user-text")
    parts.append(html.Div([html.Strong(t("Answer: ")), answer], className="answer"))
    if result.get("sources"):
        parts.append(html.Div([html.Strong(t("Sources: ")), html.Span(", ".join(result["sources"]))]))
    if result.get("suggestions"):
        parts.append(html.Div([html.Strong(t("Did you mean: ")), html.Span(" / ".join(result["suggestions"]),
                                                                          id="kn-suggestions", className="user-text")]))
    if not result["hits"]:
        parts.append(notice("Nothing in the knowledge base matches yet."))
    else:
        parts.append(grid(pd.DataFrame(result["hits"]), "kn-hits", page_size=10, wide=["text"],
                          columns=["rank", "score", "dense", "lexical", "source_ref", "text"]))
    return html.Div(parts)


def _decode(contents: list[str], names: list[str]) -> list[tuple[str, bytes]]:
    files = []
    for content, name in zip(contents, names, strict=False):
        _, _, encoded = (content or "").partition("base64,")
        try:
            files.append((name, base64.b64decode(encoded, validate=True)))
        except (binascii.Error, ValueError):
            raise ValidationFailed(f"{name} did not arrive intact; upload it again.") from None
    return files
