"""The manual FAQ editor on the Knowledge page: add, edit and delete entries (`knowledge.curation`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update

from core.db import tenant_session_sync
from core.errors import ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, grid, notice, records, section
from dash_app.i18n import t
from knowledge import commands, curation
from knowledge.similar_questions import split

FAQ_COLUMNS = ["id", "question", "answer", "similar_questions"]


def faq_rows(user: SignedInUser) -> list[dict[str, Any]]:
    with tenant_session_sync(user.tenant_id) as session:
        return [{"id": e.id, "question": e.question, "answer": e.answer,
                 "similar_questions": " | ".join(e.similar_questions)}
                for e in curation.list_faq_entries(session, user.tenant_id)]


def save_faq_entry(user: SignedInUser, entry_id: str | None, question: str, answer: str,
                   similar_questions: str = "") -> curation.FaqChange:
    """Add a new entry (no id) or replace an existing one; either way it is re-indexed.

    `similar_questions`: other wordings of the question, one per line (or separated by |)."""
    auth.require(user, "admin")
    if entry_id:
        return commands.update_faq_entry(user.tenant_id, entry_id, question, answer,
                                         similar_questions=similar_questions)
    return commands.add_faq_entry(user.tenant_id, question, answer, similar_questions=similar_questions)


def delete_faq_entry(user: SignedInUser, entry_id: str | None) -> curation.FaqChange:
    auth.require(user, "admin")
    if not entry_id:
        raise ValidationFailed("Select the FAQ entry to delete first.")
    return commands.delete_faq_entry(user.tenant_id, entry_id)


def layout(user: SignedInUser) -> html.Section:
    admin = user.can("admin")
    editor = html.Div([
        dcc.Input(id="faq-id", type="hidden", value=""),
        html.Label(t("Question"), htmlFor="faq-question"),
        dcc.Input(id="faq-question", type="text", className="wide", disabled=not admin),
        html.Label(t("Answer"), htmlFor="faq-answer"),
        dcc.Textarea(id="faq-answer", className="wide", disabled=not admin),
        html.Label(t("Similar questions (one per line)"), htmlFor="faq-similar"),
        dcc.Textarea(id="faq-similar", className="wide", disabled=not admin,
                     placeholder=t("Other ways customers ask this, e.g. “can I pay on delivery”")),
        # Add needs a question and an answer; Save and Delete need a picked entry (faq-buttons below).
        html.Div([html.Button(t("Add"), id="faq-add", disabled=True),
                  html.Button(t("Save"), id="faq-save", disabled=True),
                  html.Button(t("Delete"), id="faq-delete", className="danger", disabled=True)],
                 className="row"),
        html.Div(id="faq-result"),
    ], className="editor")
    return section("Manual FAQ entries",
                   html.P(t("Entries typed here are indexed like an uploaded FAQ; pick a row to edit it. "
                            "Similar questions are matched like the question itself."), className="muted"),
                   faq_grid(faq_rows(user)),
                   editor if admin else notice(t("Only admins can change this.")))


def faq_grid(rows: list[dict[str, Any]]) -> Any:
    return grid(pd.DataFrame(rows, columns=FAQ_COLUMNS), "faq-table", columns=FAQ_COLUMNS[1:], keep=["id"],
                select="single", page_size=10, wide=["question", "answer"])


def register(app: Any) -> None:
    @app.callback(Output("faq-id", "value"), Output("faq-question", "value"), Output("faq-answer", "value"),
                  Output("faq-similar", "value"), Input("faq-table", "selectedRows"), prevent_initial_call=True)
    def pick(selected: list[dict[str, Any]] | None) -> tuple[str, str, str, str]:
        if not selected:
            return "", "", "", ""
        row = selected[0]
        return row["id"], row["question"], row["answer"], "\n".join(split(row.get("similar_questions")))

    @app.callback(Output("faq-add", "disabled"), Output("faq-save", "disabled"), Output("faq-delete", "disabled"),
                  Input("faq-id", "value"), Input("faq-question", "value"), Input("faq-answer", "value"))
    def buttons(entry_id: str | None, question: str | None, answer: str | None) -> tuple[bool, bool, bool]:
        """Only what can act: Add with a question and an answer, Save and Delete with an entry picked."""
        filled = bool((question or "").strip() and (answer or "").strip())
        return not filled, not (entry_id and filled), not entry_id

    @app.callback(Output("faq-result", "children"), Output("faq-table", "rowData"),
                  Output("faq-table", "selectedRows"), Output("kn-refresh", "data", allow_duplicate=True),
                  Input("faq-add", "n_clicks"), Input("faq-save", "n_clicks"), Input("faq-delete", "n_clicks"),
                  State("faq-id", "value"), State("faq-question", "value"), State("faq-answer", "value"),
                  State("faq-similar", "value"), State("kn-refresh", "data"), prevent_initial_call=True)
    def change(_: Any, __: Any, ___: Any, entry_id: str, question: str, answer: str, similar: str | None,
               counter: int) -> tuple:
        user = auth.current_user()
        button = ctx.triggered_id
        if button == "faq-delete":
            _, error = attempt(lambda: delete_faq_entry(user, entry_id))
            done = "Deleted the entry; the change is being indexed."
        else:
            target = entry_id if button == "faq-save" else None
            _, error = attempt(lambda: save_faq_entry(user, target, question or "", answer or "", similar or ""))
            done = "Saved; the entry is being indexed and answers will use it in a moment."
        if error is not None:
            return error, no_update, no_update, no_update
        rows = records(pd.DataFrame(faq_rows(user), columns=FAQ_COLUMNS))
        return notice(t(done), "success"), rows, [], (counter or 0) + 1
