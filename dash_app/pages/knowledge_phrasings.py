"""Similar questions suggested from real traffic, on the Knowledge page: accept one onto its row or dismiss it.

Each suggestion is a customer's own wording (a knowledge-gap question the bot could not answer well,
or the question asked before a "did you mean" choice) and the FAQ row it belongs to
(`knowledge.phrasing_suggestions`). Accepting adds it to the row's similar questions and re-indexes
the row, so the next customer who asks that way gets the answer.
"""

from __future__ import annotations

import json
from typing import Any

from dash import ALL, Input, Output, State, ctx, html, no_update

from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import as_uuid, attempt, notice, section
from dash_app.i18n import t
from knowledge import commands, phrasing_suggestions
from knowledge.phrasing_suggestions import PhrasingSuggestion

ORIGIN_LABELS = {"gap": "unanswered or rated down", "chosen": "chosen “did you mean”", "agent": "answered by an agent"}


def suggestions(user: SignedInUser) -> list[PhrasingSuggestion]:
    return phrasing_suggestions.list_suggestions(user.tenant_id, 30)


def decide(user: SignedInUser, choice: dict[str, str], action: str) -> None:
    """Accept (add to the row's similar questions) or dismiss one suggestion (admin)."""
    auth.require(user, "admin")
    document_id = as_uuid(choice.get("document_id"), "document id")
    source_ref, phrasing = str(choice.get("source_ref") or ""), str(choice.get("question") or "")
    if action == "accept":
        commands.add_similar_question(user.tenant_id, document_id, source_ref, phrasing, user_id=user.user_id)
    else:
        commands.dismiss_phrasing(user.tenant_id, document_id, source_ref, phrasing, user_id=user.user_id)


def _card(suggestion: PhrasingSuggestion, admin: bool) -> html.Div:
    choice = json.dumps({"document_id": str(suggestion.document_id), "source_ref": suggestion.source_ref,
                         "question": suggestion.phrasing}, ensure_ascii=False)
    seen = t(ORIGIN_LABELS.get(suggestion.origin, suggestion.origin))
    times = f" · {suggestion.times}×" if suggestion.times > 1 else ""
    return html.Div([
        html.Div([html.Strong(f"“{suggestion.phrasing}”"),
                  html.Div([t("for row"), f" {suggestion.source_ref}: {suggestion.row_question}"], className="muted"),
                  html.Div(f"{seen}{times} · {suggestion.asked_at:%Y-%m-%d}", className="muted")], className="grow"),
        html.Div([
            html.Button(t("Add as similar question"), id={"type": "phr-accept", "choice": choice}, disabled=not admin),
            html.Button(t("Dismiss"), id={"type": "phr-dismiss", "choice": choice}, className="secondary",
                        disabled=not admin),
        ], className="row"),
    ], className="suggestion row")


def _list(user: SignedInUser) -> Any:
    found, error = attempt(lambda: suggestions(user))
    if error is not None or found is None:
        return error
    if not found:
        return notice(t("No suggestions right now: they appear as customers ask in their own words."))
    return [_card(s, user.can("admin")) for s in found]


def layout(user: SignedInUser) -> html.Section:
    return section(
        "Suggested similar questions",
        html.P(t("Customers' own wordings the bot missed, with the FAQ row they belong to. Adding one makes the "
                 "row answer that wording too."), className="muted"),
        html.Button(t("Find suggestions"), id="phr-load"),
        html.Div(id="phr-result"),
        html.Div(id="phr-list"),
        section_id="similar-suggestions",
    )


def register(app: Any) -> None:
    @app.callback(Output("phr-list", "children"), Output("phr-result", "children"),
                  Input("phr-load", "n_clicks"),
                  Input({"type": "phr-accept", "choice": ALL}, "n_clicks"),
                  Input({"type": "phr-dismiss", "choice": ALL}, "n_clicks"),
                  State("phr-list", "children"), prevent_initial_call=True)
    def act(_: Any, accepted: list[int | None], dismissed: list[int | None], __: Any) -> tuple[Any, Any]:
        user = auth.current_user()
        trigger = ctx.triggered_id
        if trigger == "phr-load" or not isinstance(trigger, dict):
            return _list(user), None
        if not any(accepted) and not any(dismissed):
            return no_update, no_update  # the buttons were just drawn
        action = "accept" if trigger["type"] == "phr-accept" else "dismiss"
        choice = json.loads(trigger["choice"])
        _, error = attempt(lambda: decide(user, choice, action))
        if error is not None:
            return no_update, error
        done = (t("Added to row {row}; answers use it in a moment.").format(row=choice["source_ref"])
                if action == "accept" else t("Dismissed; it will not be suggested for this row again."))
        return _list(user), notice(done, "success")
