"""Uploaded FAQ rows on the Knowledge page: find a row of an uploaded CSV/XLSX/JSON, edit, disable or revert it.

Changes are overrides (`knowledge.faq_overrides`): the file stays as uploaded, the row is re-embedded
by a worker in a moment, and a re-upload of the file keeps the change; a row whose file text changed
since it was edited is marked so the admin can keep the edit (save again) or revert to the file.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from sqlalchemy import select

from core.db import tenant_session_sync
from core.errors import ValidationFailed
from core.models import Document
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, grid, notice, records, section
from dash_app.formats import count
from dash_app.i18n import t
from knowledge import commands, faq_overrides
from knowledge.curation import MANUAL_FAQ_FILENAME
from knowledge.similar_questions import split

ROW_COLUMNS = ["source_ref", "state", "question", "answer", "similar_questions", "note"]
SHOWN = 200
Q_AND_A_TYPES = ("csv", "xlsx", "json")
ACTIONS = {"rows-save": "edit", "rows-disable": "disable", "rows-enable": "enable", "rows-revert": "revert",
           "rows-similar-save": "similar"}


def qa_documents(user: SignedInUser) -> list[dict[str, str]]:
    """Dropdown options: the tenant's uploaded Q&A tables (not the manual FAQ), by title."""
    with tenant_session_sync(user.tenant_id) as session:
        found = session.execute(
            select(Document.id, Document.title, Document.filename)
            .where(Document.tenant_id == user.tenant_id, Document.source_type.in_(Q_AND_A_TYPES),
                   Document.filename != MANUAL_FAQ_FILENAME)
            .order_by(Document.title)).all()
    return [{"label": f"{title} ({filename})", "value": str(document_id)} for document_id, title, filename in found]


def uploaded_rows(user: SignedInUser, document_id: str, search: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """The first rows of a document matching the search, as the bot uses them, and how many match."""
    with tenant_session_sync(user.tenant_id) as session:
        rows, total = faq_overrides.list_rows(session, user.tenant_id, as_uuid(document_id, "document id"),
                                              search=search, limit=SHOWN)
    return [{"id": r.source_ref, "source_ref": r.source_ref, "state": t(r.state), "state_key": r.state,
             "question": r.question, "answer": r.answer, "similar_questions": " | ".join(r.similar_questions),
             "note": _note(r)} for r in rows], total


def rows_grid(rows: list[dict[str, Any]]) -> Any:
    """The rows, one selectable at a time; `id` (the row's source_ref) keeps the selection across refreshes."""
    frame = pd.DataFrame(rows, columns=["id", "state_key", *ROW_COLUMNS])
    return grid(frame, "rows-table", columns=ROW_COLUMNS, keep=["id", "state_key"], select="single", page_size=10,
                wide=["question", "answer", "note"])


def change_row(user: SignedInUser, document_id: str | None, source_ref: str | None, action: str,
               question: str = "", answer: str = "", similar: str = "") -> faq_overrides.FaqRow:
    """Edit, disable, enable or revert one uploaded row, or set its similar questions (admin); the row is
    re-embedded by a worker."""
    auth.require(user, "admin")
    if not document_id:
        raise ValidationFailed("Choose a document first.")
    if not source_ref:
        raise ValidationFailed("Select the row to change first.")
    document = as_uuid(document_id, "document id")
    if action == "edit":
        return commands.edit_faq_row(user.tenant_id, document, source_ref, question, answer, user_id=user.user_id)
    if action in ("disable", "enable"):
        return commands.set_faq_row_disabled(user.tenant_id, document, source_ref, action == "disable",
                                             user_id=user.user_id)
    if action == "revert":
        return commands.revert_faq_row(user.tenant_id, document, source_ref, user_id=user.user_id)
    if action == "similar":
        return commands.set_faq_row_similar_questions(user.tenant_id, document, source_ref, similar,
                                                      user_id=user.user_id)
    raise ValidationFailed(f"Unknown action {action!r}.")


def _note(row: faq_overrides.FaqRow) -> str:
    if not row.file_changed:
        return ""
    if row.file_question is None:
        return t("The row is no longer in the uploaded file.")
    return t("The uploaded file changed since this edit; it now says:") + f" {row.file_question} — {row.file_answer}"


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    editor = html.Div([
        dcc.Input(id="rows-ref", type="hidden", value=""),
        html.Label(t("Question"), htmlFor="rows-question"),
        dcc.Input(id="rows-question", type="text", className="wide"),
        html.Label(t("Answer"), htmlFor="rows-answer"),
        dcc.Textarea(id="rows-answer", className="wide"),
        # Each button is enabled only when it can act on the selected row (rows-buttons below).
        html.Div([html.Button(t("Save"), id="rows-save", disabled=True),
                  html.Button(t("Disable"), id="rows-disable", className="danger", disabled=True),
                  html.Button(t("Enable"), id="rows-enable", disabled=True),
                  html.Button(t("Revert to file"), id="rows-revert", disabled=True)], className="row"),
        html.Label(t("Similar questions (one per line)"), htmlFor="rows-similar"),
        dcc.Textarea(id="rows-similar", className="wide",
                     placeholder=t("Other ways customers ask this, e.g. “can I pay on delivery”")),
        html.Div([html.Button(t("Save similar questions"), id="rows-similar-save", disabled=True)], className="row"),
    ], className="editor")
    return section(
        "Uploaded FAQ rows",
        html.P(t("Fix a row of an uploaded Q&A file: the change reaches answers in a moment and is kept when the "
                 "file is uploaded again (rows whose file text changed since are marked)."), className="muted"),
        html.Div([dcc.Dropdown(id="rows-document", options=qa_documents(user), placeholder=t("Choose a document"),
                               className="grow"),
                  dcc.Input(id="rows-search", type="text", placeholder=t("search id, question or answer"),
                            debounce=True)], className="row"),
        html.Div(id="rows-count", className="muted"),
        rows_grid([]),
        editor if admin else notice(t("Only admins can change this.")),
        html.Div(id="rows-result"),
        dcc.Store(id="rows-refresh", data=0),
        section_id="uploaded-rows",
    )


def register(app: Any) -> None:
    @app.callback(Output("rows-document", "options"), Input("kn-table", "rowData"), prevent_initial_call=True)
    def documents_changed(_: Any) -> list[dict[str, str]]:
        return qa_documents(auth.current_user())  # a new upload becomes choosable once listed

    @app.callback(Output("rows-table", "rowData"), Output("rows-count", "children"),
                  Output("rows-table", "selectedRows"),
                  Input("rows-document", "value"), Input("rows-search", "value"), Input("rows-refresh", "data"),
                  prevent_initial_call=True)
    def load(document_id: str | None, search: str | None, _: Any) -> tuple[Any, Any, Any]:
        if not document_id:
            return [], "", []
        user = auth.current_user()
        result, error = attempt(lambda: uploaded_rows(user, document_id, search))
        if error is not None or result is None:
            return [], error, []
        rows, total = result
        shown = count(total, "{n} row", "{n} rows") + (
            t("; the first {n} are shown, search to narrow").format(n=SHOWN) if total > SHOWN else "")
        # After a change the same row stays selected (its id is its source_ref); a new document or search clears it.
        selected = no_update if ctx.triggered_id == "rows-refresh" else []
        return records(pd.DataFrame(rows, columns=["id", "state_key", *ROW_COLUMNS])), shown, selected

    @app.callback(Output("rows-ref", "value"), Output("rows-question", "value"), Output("rows-answer", "value"),
                  Output("rows-similar", "value"), Input("rows-table", "selectedRows"), prevent_initial_call=True)
    def pick(selected: list[dict[str, Any]] | None) -> tuple[str, str, str, str]:
        if not selected:
            return "", "", "", ""
        row = selected[0]
        return row["source_ref"], row["question"], row["answer"], "\n".join(split(row.get("similar_questions")))

    @app.callback(Output("rows-save", "disabled"), Output("rows-disable", "disabled"),
                  Output("rows-enable", "disabled"), Output("rows-revert", "disabled"),
                  Output("rows-similar-save", "disabled"), Input("rows-table", "selectedRows"))
    def buttons(selected: list[dict[str, Any]] | None) -> tuple[bool, ...]:
        """Only what can act on the selected row: Disable an enabled row, Enable a disabled one, Revert a
        changed one ("file" = no change of the admin's)."""
        if not selected:
            return True, True, True, True, True
        state = selected[0].get("state_key")
        return False, state == "disabled", state != "disabled", state == "file", False

    @app.callback(Output("rows-result", "children"), Output("rows-refresh", "data"),
                  Input("rows-save", "n_clicks"), Input("rows-disable", "n_clicks"), Input("rows-enable", "n_clicks"),
                  Input("rows-revert", "n_clicks"), Input("rows-similar-save", "n_clicks"),
                  State("rows-document", "value"), State("rows-ref", "value"),
                  State("rows-question", "value"), State("rows-answer", "value"), State("rows-similar", "value"),
                  State("rows-refresh", "data"), prevent_initial_call=True)
    def change(_: Any, __: Any, ___: Any, ____: Any, _____: Any, document_id: str | None, source_ref: str | None,
               question: str | None, answer: str | None, similar: str | None,
               counter: int | None) -> tuple[Any, Any]:
        user = auth.current_user()
        action = ACTIONS.get(str(ctx.triggered_id), "")
        row, error = attempt(lambda: change_row(user, document_id, source_ref, action, question or "", answer or "",
                                                similar or ""))
        if error is not None or row is None:
            return error, no_update
        done = {"edit": "Saved", "disable": "Disabled", "enable": "Enabled", "revert": "Reverted to the file's text",
                "similar": "Saved similar questions"}
        return (notice(t("{done}: row {ref}; answers use it in a moment.").format(done=t(done[action]),
                                                                               ref=row.source_ref), "success"),
                (counter or 0) + 1)
