"""Settings → Widget: colour, corner, title, avatar, greeting and starter questions, with a live preview.

The preview is the real widget (`widget/kefu.js`, served here at /widget-preview/kefu.js) in an
iframe, in its `data-preview` mode: it makes no requests and answers with a sample reply. The tag
to paste is rebuilt on every change and carries the look; the greeting is the bot's setting, which
the widget fetches when it opens, so changing it needs no new tag.
"""

from __future__ import annotations

import html as html_text
from pathlib import Path
from typing import Any

import flask
from dash import Input, Output, State, dcc, html
from sqlalchemy import select

from chat import commands as chat_commands
from chat.bot_settings import load_bot_settings_sync
from core.audit import Actor
from core.db import tenant_session_sync
from core.models import WidgetKey
from core.settings import get_settings
from core.widget_appearance import (
    WidgetAppearance,
    load_appearance,
    save_appearance,
    tag_attributes,
    validate_appearance,
    widget_tag,
)
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, notice
from dash_app.i18n import language

SCRIPT = Path(__file__).resolve().parents[2] / "widget" / "kefu.js"
PREVIEW_SRC = "/widget-preview/kefu.js"

_ZH = {
    "Colour": "颜色",
    "Position": "位置",
    "Bottom right": "右下角",
    "Bottom left": "左下角",
    "Title (empty: your shop's name)": "标题（留空则使用店铺名称）",
    "Avatar image address (https://…, optional)": "头像图片地址（https://…，可选）",
    "Greeting (empty: a default in the customer's language)": "问候语（留空则按客户语言使用默认问候）",
    "Starter questions, one per line (shown as buttons when the chat opens; at most 6)": "开场问题，每行一个（打开对话时显示为按钮；最多 6 个）",  # noqa: E501
    "Preview language": "预览语言",
    "Live preview": "实时预览",
    "The tag to paste before </body> on every page of your site": "粘贴到网站每个页面 </body> 之前的代码",
    "Copy": "复制",
    "Save widget settings": "保存小部件设置",
    "Saved. Paste the tag again if you changed colour, position, title, avatar or starters; the greeting "
    "changes at once.": "已保存。如果修改了颜色、位置、标题、头像或开场问题，请重新粘贴代码；问候语会立即生效。",
    "Create a widget key first (kefu tenant create makes one).": "请先创建小部件密钥（kefu tenant create 会创建一个）。",  # noqa: E501
}


def _t(text: str) -> str:
    return _ZH.get(text, text) if language() == "zh" else text


def current(user: SignedInUser) -> tuple[WidgetAppearance, str, str]:
    """The tenant's widget look, the shop's name and the bot's greeting."""
    with tenant_session_sync(user.tenant_id) as session:
        look, shop = load_appearance(session, user.tenant_id)
        greeting = load_bot_settings_sync(session, user.tenant_id).greeting or ""
    return look, shop, greeting


def widget_keys(user: SignedInUser) -> list[str]:
    with tenant_session_sync(user.tenant_id) as session:
        return list(
            session.scalars(select(WidgetKey.key).where(WidgetKey.revoked_at.is_(None)).order_by(WidgetKey.created_at))
        )


def save(user: SignedInUser, changes: dict[str, Any], greeting: str) -> WidgetAppearance:
    """Store the look and the greeting (admin); a refused value stores neither."""
    auth.require(user, "admin")
    validate_appearance(WidgetAppearance(), changes)  # refuse before writing anything
    look = save_appearance(user.tenant_id, changes, actor=Actor("user", user.user_id))
    chat_commands.save_bot_settings(
        user.tenant_id, {"greeting": (greeting or "").strip() or None}, actor=Actor("user", user.user_id)
    )
    return look


def tags(user: SignedInUser, look: WidgetAppearance, shop: str) -> list[str]:
    base = get_settings().public_api_url
    return [widget_tag(base, key, look, shop) for key in widget_keys(user)]


def preview_document(look: WidgetAppearance, shop: str, greeting: str, lang: str) -> str:
    """The iframe's page: the real widget in preview mode with these settings."""
    attributes = {**tag_attributes(look, shop), "lang": lang, **({"greeting": greeting} if greeting else {})}
    data = "".join(f' data-{k}="{html_text.escape(v)}"' for k, v in attributes.items())
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        '<body style="margin:0;background:#eef1f4">'
        f'<script src="{PREVIEW_SRC}" data-preview{data}></script></body></html>'
    )


def _changes(
    color: str | None, position: str | None, title: str | None, avatar: str | None, starters: str | None
) -> dict[str, Any]:
    return {
        "color": color or "",
        "position": position or "right",
        "title": title or "",
        "avatar": avatar or "",
        "starters": starters or "",
    }


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    look, shop, greeting = current(user)
    lang = language()
    form = html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label(_t("Colour"), htmlFor="wl-color"),
                            dcc.Input(
                                id="wl-color",
                                type="color",
                                value=look.color,
                                disabled=not admin,
                                className="color-input",
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label(_t("Position")),
                            dcc.RadioItems(
                                id="wl-position",
                                value=look.position,
                                inline=True,
                                options=[
                                    {"label": " " + _t("Bottom right"), "value": "right", "disabled": not admin},
                                    {"label": " " + _t("Bottom left"), "value": "left", "disabled": not admin},
                                ],
                            ),
                        ]
                    ),
                ],
                className="row",
            ),
            html.Label(_t("Title (empty: your shop's name)"), htmlFor="wl-title"),
            dcc.Input(
                id="wl-title",
                value=look.title,
                placeholder=shop,
                className="wide user-text",  # the shop's own name, not a word to translate
                disabled=not admin,
                debounce=0.4,
            ),
            html.Label(_t("Avatar image address (https://…, optional)"), htmlFor="wl-avatar"),
            dcc.Input(
                id="wl-avatar",
                value=look.avatar,
                placeholder="https://",
                className="wide",
                disabled=not admin,
                debounce=0.6,
            ),
            html.Label(_t("Greeting (empty: a default in the customer's language)"), htmlFor="wl-greeting"),
            dcc.Input(id="wl-greeting", value=greeting, className="wide", disabled=not admin, debounce=0.4),
            html.Label(
                _t("Starter questions, one per line (shown as buttons when the chat opens; at most 6)"),
                htmlFor="wl-starters",
            ),
            dcc.Textarea(id="wl-starters", value="\n".join(look.starters), className="wide", disabled=not admin),
            html.Button(_t("Save widget settings"), id="wl-save", disabled=not admin),
            html.Div(id="wl-save-result"),
        ],
        className="widget-form",
    )
    preview = html.Div(
        [
            html.Div(
                [
                    html.Strong(_t("Live preview")),
                    dcc.RadioItems(
                        id="wl-lang",
                        value=lang,
                        inline=True,
                        options=[{"label": " English", "value": "en"}, {"label": " 中文", "value": "zh"}],
                    ),
                ],
                className="preview-head",
            ),
            html.Iframe(
                id="wl-preview",
                srcDoc=preview_document(look, shop, greeting, lang),
                className="widget-preview",
                title=_t("Live preview"),
            ),
        ],
        className="widget-preview-box",
    )
    return html.Div(
        [
            html.Div([form, preview], className="widget-settings"),
            html.Label(_t("The tag to paste before </body> on every page of your site")),
            html.Div(_tag_blocks(tags(user, look, shop)), id="wl-tags"),
        ]
    )


def _tag_blocks(found: list[str]) -> list[Any]:
    if not found:
        return [notice(_t("Create a widget key first (kefu tenant create makes one)."))]
    blocks: list[Any] = []
    for index, tag in enumerate(found):
        blocks.append(
            html.Div(
                [
                    html.Pre(tag, className="snippet", id=f"wl-tag-{index}"),
                    dcc.Clipboard(
                        target_id=f"wl-tag-{index}", title=_t("Copy"), className="copy-tag", id=f"wl-copy-{index}"
                    ),
                ],
                className="tag-block",
            )
        )
    return blocks


def register(app: Any) -> None:
    @app.server.route(PREVIEW_SRC)
    def preview_script() -> flask.Response:
        response = flask.send_file(SCRIPT, mimetype="text/javascript", max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.callback(
        Output("wl-preview", "srcDoc"),
        Output("wl-tags", "children"),
        Input("wl-color", "value"),
        Input("wl-position", "value"),
        Input("wl-title", "value"),
        Input("wl-avatar", "value"),
        Input("wl-greeting", "value"),
        Input("wl-starters", "value"),
        Input("wl-lang", "value"),
        prevent_initial_call=True,
    )
    def follow(
        color: str | None,
        position: str | None,
        title: str | None,
        avatar: str | None,
        greeting: str | None,
        starters: str | None,
        lang: str | None,
    ) -> tuple[Any, Any]:
        user = auth.current_user()
        look, error = attempt(
            lambda: validate_appearance(WidgetAppearance(), _changes(color, position, title, avatar, starters))
        )
        if error is not None or look is None:
            from dash import no_update

            return no_update, [error]
        _, shop, _ = current(user)
        greeting_text = " ".join((greeting or "").split())
        return preview_document(look, shop, greeting_text, lang or "en"), _tag_blocks(tags(user, look, shop))

    @app.callback(
        Output("wl-save-result", "children"),
        Input("wl-save", "n_clicks"),
        State("wl-color", "value"),
        State("wl-position", "value"),
        State("wl-title", "value"),
        State("wl-avatar", "value"),
        State("wl-greeting", "value"),
        State("wl-starters", "value"),
        prevent_initial_call=True,
    )
    def store(
        _: Any,
        color: str | None,
        position: str | None,
        title: str | None,
        avatar: str | None,
        greeting: str | None,
        starters: str | None,
    ) -> Any:
        user = auth.current_user()
        _, error = attempt(lambda: save(user, _changes(color, position, title, avatar, starters), greeting or ""))
        return error or notice(
            _t(
                "Saved. Paste the tag again if you changed colour, position, title, avatar or "
                "starters; the greeting changes at once."
            ),
            "success",
        )
