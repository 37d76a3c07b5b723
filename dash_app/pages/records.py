"""Records: the tenant's structured data (orders, bookings…) that the chat looks up by key.

Upload a CSV/XLSX/JSON file, preview what would be stored, choose the key column and who may read
a record in the chat (the signed-in customer named in an owner column, anyone, or nobody), then
import it: the collection is replaced as a whole (`knowledge.commands.import_records`). Analysts
see the collections and their first rows; admins upload, replace and delete.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from core.audit import Actor
from core.db import tenant_session_sync
from core.errors import NotFound, ValidationFailed
from dash_app import auth
from dash_app.auth import SignedInUser
from dash_app.components import attempt, grid, notice, section, selected_ids
from dash_app.components import records as table_rows
from dash_app.i18n import language
from knowledge import commands
from knowledge import records as record_store

COLLECTION_COLUMNS = [
    "collection",
    "key_column",
    "row_count",
    "access",
    "owner_column",
    "sensitive_columns",
    "updated_at",
]
ACCESS = {
    "owner": "Only the signed-in customer in the owner column",
    "public": "Anyone who asks",
    "private": "Nobody in the chat (admins only)",
}

# A column like these most likely holds the customer's id on the shop's site: offered as the owner column.
_OWNER_NAMES = ("customer_id", "user_id", "customer id", "user id", "member_id", "客户id", "用户id", "客户编号")

_ZH = {
    "Records": "记录",
    "Record collections": "记录集合",
    "Upload records": "上传记录",
    'Records are your own data the assistant looks up by number, such as orders: "Where is my order 10023?" '
    "gets that order's status. Each collection is replaced as a whole when you upload it again.": "记录是助手按编号查询的您自己的数据，例如订单：“我的订单 10023 到哪了？”会得到该订单的状态。"  # noqa: E501
    "再次上传同名集合会整体替换它。",
    "No record collections yet. Upload a CSV or XLSX of your orders below.": "还没有记录集合。请在下方上传订单的 CSV 或 XLSX 文件。",  # noqa: E501
    "collection": "集合",
    "key_column": "键列",
    "row_count": "行数",
    "access": "谁能查询",
    "owner_column": "所有者列",
    "sensitive_columns": "敏感列（隐藏）",
    "updated_at": "更新时间",
    "Collection name": "集合名称",
    "Choose a CSV, XLSX or JSON file": "选择 CSV、XLSX 或 JSON 文件",
    "Key column (what customers ask by)": "键列（客户按此查询）",
    "Owner column (the signed-in customer's id)": "所有者列（已登录客户的 ID）",
    "none": "无",
    "Sensitive columns (masked in answers)": "敏感列（回答中隐藏）",
    "Anyone may look these records up (a catalogue, no owner column)": "任何人都可以查询这些记录（如商品目录，无所有者列）",  # noqa: E501
    "Import (replaces the collection)": "导入（替换该集合）",
    "Preview of the selected collection": "所选集合预览",
    "Delete selected collection": "删除所选集合",
    "Only the signed-in customer in the owner column": "仅限所有者列中的已登录客户",
    "Anyone who asks": "任何提问者",
    "Nobody in the chat (admins only)": "对话中无人可查（仅管理员）",
    "Select a collection above to see its first rows.": "在上方选择一个集合以查看前几行。",
    "Preview: {shown} of {total} records, key column {key}.": "预览：共 {total} 条记录，显示 {shown} 条，键列为 {key}。",  # noqa: E501
    "Imported {count} records into '{name}'.": "已导入 {count} 条记录到“{name}”。",
    "Deleted the collection '{name}'.": "已删除集合“{name}”。",
    "Select a collection to delete first.": "请先选择要删除的集合。",
    "Choose a file first.": "请先选择文件。",
    "Who may look these records up in the chat": "谁可以在对话中查询这些记录",
    "Save access": "保存查询权限",
    "Saved: {who}.": "已保存：{who}。",
}


def _t(text: str, **values: Any) -> str:
    shown = _ZH.get(text, text) if language() == "zh" else text
    return shown.format(**values) if values else shown


def collection_rows(user: SignedInUser) -> list[dict[str, Any]]:
    with tenant_session_sync(user.tenant_id) as session:
        return [
            {
                "collection": c.name,
                "key_column": c.key_column,
                "row_count": c.row_count,
                "access": _t(ACCESS[c.access]),
                "owner_column": c.owner_column or "",
                "sensitive_columns": ", ".join(c.sensitive_columns),
                "updated_at": c.updated_at.strftime("%Y-%m-%d %H:%M"),
            }
            for c in record_store.list_collections(session, user.tenant_id)
        ]


def preview_upload(
    user: SignedInUser, filename: str, data: bytes, key_column: str | None
) -> record_store.RecordPreview:
    """What importing this file would store (nothing is written); analysts may look too."""
    return record_store.preview_records(filename, data, key_column)


def import_upload(
    user: SignedInUser,
    collection: str,
    filename: str,
    data: bytes,
    key_column: str,
    owner_column: str | None,
    sensitive: list[str],
    public: bool,
) -> int:
    """Replace the collection with the file (admin); returns the number of records stored."""
    auth.require(user, "admin")
    access = record_store.AccessChange(owner_column or "", sensitive, None if owner_column else public)
    stored = commands.import_records(
        user.tenant_id,
        (collection or "").strip(),
        filename,
        data,
        key_column or "",
        access,
        actor=Actor("user", user.user_id),
    )
    return stored.row_count


def sample(user: SignedInUser, collection: str) -> list[dict[str, Any]]:
    with tenant_session_sync(user.tenant_id) as session:
        return record_store.sample_records(session, user.tenant_id, collection)


def collection_access(user: SignedInUser, collection: str) -> dict[str, Any]:
    """A collection's columns and who may read it in the chat, for the access form."""
    with tenant_session_sync(user.tenant_id) as session:
        found = next((c for c in record_store.list_collections(session, user.tenant_id) if c.name == collection), None)
        if found is None:
            raise NotFound(f"No record collection '{collection}' in this tenant.")
        return {
            "columns": list(found.columns),
            "key_column": found.key_column,
            "owner_column": found.owner_column or "",
            "sensitive_columns": list(found.sensitive_columns),
            "public": found.access == "public",
        }


def change_access(
    user: SignedInUser, collection: str, owner_column: str | None, sensitive: list[str], public: bool
) -> str:
    """Change who may read a collection in the chat without uploading it again (admin); the new access."""
    auth.require(user, "admin")
    change = record_store.AccessChange(owner_column or "", sensitive, None if owner_column else public)
    return commands.change_record_access(user.tenant_id, collection, change, actor=Actor("user", user.user_id)).access


def delete_collection(user: SignedInUser, collection: str | None) -> None:
    auth.require(user, "admin")
    if not collection:
        raise ValidationFailed(_t("Select a collection to delete first."))
    commands.delete_record_collection(user.tenant_id, collection, actor=Actor("user", user.user_id))


def collection_list(user: SignedInUser) -> Any:
    """The collections table (headers in the page's language), or what to do when there is none."""
    rows = collection_rows(user)
    if not rows:
        return notice(_t("No record collections yet. Upload a CSV or XLSX of your orders below."))
    return grid(_collections_frame(rows), "rec-table", select="single", keep=["id"])


def _collections_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows keyed by the collection's name (`id`), headers in the page's language."""
    frame = pd.DataFrame(rows, columns=COLLECTION_COLUMNS)
    shown = frame.rename(columns=_t)
    shown["id"] = frame["collection"]
    return shown


def _selected_name(selected: list[dict[str, Any]] | None) -> str | None:
    ids = selected_ids(selected)
    return ids[0] if ids else None


def _rows_table(rows: list[dict[str, Any]], table_id: str) -> Any:
    frame = pd.DataFrame(rows)
    return grid(frame.astype(str) if not frame.empty else frame, table_id, page_size=10)


def layout(user: SignedInUser) -> html.Div:
    admin = user.can("admin")
    listing = html.Div(
        [
            html.P(
                _t(
                    'Records are your own data the assistant looks up by number, such as orders: "Where is my order '
                    "10023?\" gets that order's status. Each collection is replaced as a whole when you upload it "
                    "again."
                ),
                className="help",
            ),
            html.Div(collection_list(user), id="rec-list"),
            html.H4(_t("Preview of the selected collection")),
            html.Div(notice(_t("Select a collection above to see its first rows.")), id="rec-sample"),
            html.Button(_t("Delete selected collection"), id="rec-delete", className="danger", disabled=True),
            html.Div(id="rec-delete-result"),
        ]
    )
    upload = html.Div(
        [
            html.Div(
                [
                    html.Div(
                        [
                            html.Label(_t("Collection name"), htmlFor="rec-name"),
                            dcc.Input(id="rec-name", value="orders", disabled=not admin),
                        ]
                    ),
                ],
                className="row",
            ),
            dcc.Upload(
                id="rec-upload",
                children=html.Div(_t("Choose a CSV, XLSX or JSON file")),
                className="upload",
                multiple=False,
                disabled=not admin,
            ),
            html.Div(id="rec-file", className="help"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label(_t("Key column (what customers ask by)")),
                            dcc.Dropdown(id="rec-key", options=[], clearable=False),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label(_t("Owner column (the signed-in customer's id)")),
                            dcc.Dropdown(id="rec-owner", options=[], value="", clearable=False),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label(_t("Sensitive columns (masked in answers)")),
                            dcc.Dropdown(id="rec-sensitive", options=[], value=[], multi=True),
                        ]
                    ),
                ],
                className="row",
            ),
            dcc.Checklist(
                id="rec-public",
                options=[
                    {
                        "label": " " + _t("Anyone may look these records up (a catalogue, no owner column)"),
                        "value": "public",
                    }
                ],
                value=[],
            ),
            html.Div(id="rec-preview"),
            html.Button(_t("Import (replaces the collection)"), id="rec-import", disabled=True),
            html.Div(id="rec-import-result"),
            dcc.Store(id="rec-data"),
        ]
    )
    parts = [html.H2(_t("Records")), section(_t("Record collections"), listing)]
    if admin:
        parts.append(section(_t("Upload records"), upload, section_id="rec-upload-card"))
    return html.Div(parts)


def _access_form(rules: dict[str, Any]) -> html.Div:
    """Who may read the selected collection in the chat, changeable without a new upload."""
    others = [c for c in rules["columns"] if c != rules["key_column"]]
    return html.Div(
        [
            html.H4(_t("Who may look these records up in the chat")),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label(_t("Owner column (the signed-in customer's id)")),
                            dcc.Dropdown(
                                id="rec-access-owner",
                                options=[{"label": _t("none"), "value": ""}, *others],
                                value=rules["owner_column"],
                                clearable=False,
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.Label(_t("Sensitive columns (masked in answers)")),
                            dcc.Dropdown(
                                id="rec-access-sensitive", options=others, value=rules["sensitive_columns"], multi=True
                            ),
                        ]
                    ),
                ],
                className="row",
            ),
            dcc.Checklist(
                id="rec-access-public",
                value=["public"] if rules["public"] else [],
                options=[
                    {
                        "label": " " + _t("Anyone may look these records up (a catalogue, no owner column)"),
                        "value": "public",
                    }
                ],
            ),
            html.Button(_t("Save access"), id="rec-access-save"),
            html.Div(id="rec-access-result"),
        ],
        className="access-form",
    )


def _decode(stored: dict[str, str] | None) -> tuple[str, bytes]:
    if not stored or not stored.get("contents"):
        raise ValidationFailed(_t("Choose a file first."))
    _, _, encoded = stored["contents"].partition("base64,")
    try:
        return stored["name"], base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed(f"{stored['name']} did not arrive intact; upload it again.") from None


def register(app: Any) -> None:
    @app.callback(
        Output("rec-data", "data"),
        Output("rec-file", "children"),
        Output("rec-key", "options"),
        Output("rec-key", "value"),
        Output("rec-owner", "options"),
        Output("rec-owner", "value"),
        Output("rec-sensitive", "options"),
        Input("rec-upload", "contents"),
        State("rec-upload", "filename"),
        prevent_initial_call=True,
    )
    def choose_file(contents: str | None, name: str | None) -> tuple[Any, ...]:
        user = auth.current_user()
        stored = {"name": name or "records.csv", "contents": contents or ""}
        found, error = attempt(lambda: preview_upload(user, *_decode(stored), None))
        if error is not None or found is None:
            return None, error, [], None, [], "", []
        columns = found.columns
        owner = next((c for c in columns if c.casefold() in _OWNER_NAMES), "")
        none = {"label": _t("none"), "value": ""}
        return (stored, name, columns, found.key_column, [none, *columns], owner, columns)

    @app.callback(
        Output("rec-preview", "children"),
        Output("rec-import", "disabled"),
        Input("rec-data", "data"),
        Input("rec-key", "value"),
        prevent_initial_call=True,
    )
    def show_preview(stored: dict[str, str] | None, key: str | None) -> tuple[Any, bool]:
        user = auth.current_user()
        found, error = attempt(lambda: preview_upload(user, *_decode(stored), key))
        if error is not None or found is None:
            return error, True
        caption = _t(
            "Preview: {shown} of {total} records, key column {key}.",
            shown=len(found.rows),
            total=found.row_count,
            key=found.key_column,
        )
        return html.Div([notice(caption), _rows_table(found.rows, "rec-preview-table")]), False

    @app.callback(
        Output("rec-import-result", "children"),
        Output("rec-list", "children"),
        Input("rec-import", "n_clicks"),
        State("rec-data", "data"),
        State("rec-name", "value"),
        State("rec-key", "value"),
        State("rec-owner", "value"),
        State("rec-sensitive", "value"),
        State("rec-public", "value"),
        prevent_initial_call=True,
    )
    def import_file(
        _: Any,
        stored: dict[str, str] | None,
        name: str | None,
        key: str | None,
        owner: str | None,
        sensitive: list[str] | None,
        public: list[str] | None,
    ) -> tuple[Any, Any]:
        user = auth.current_user()
        count, error = attempt(
            lambda: import_upload(
                user,
                name or "",
                *_decode(stored),
                key or "",
                owner or None,
                sensitive or [],
                "public" in (public or []),
            )
        )
        if error is not None:
            return error, no_update
        done = notice(_t("Imported {count} records into '{name}'.", count=count, name=(name or "").strip()), "success")
        return done, collection_list(user)

    @app.callback(
        Output("rec-sample", "children"),
        Output("rec-delete", "disabled"),
        Input("rec-table", "selectedRows"),
        prevent_initial_call=True,
    )
    def show_sample(selected: list[dict[str, Any]] | None) -> tuple[Any, bool]:
        user = auth.current_user()
        name = _selected_name(selected)
        if name is None:
            return notice(_t("Select a collection above to see its first rows.")), True
        found, error = attempt(lambda: sample(user, name))
        rules, access_error = attempt(lambda: collection_access(user, name))
        if error is not None or access_error is not None or rules is None:
            return error or access_error, True
        admin = user.can("admin")
        parts = [_rows_table(found or [], "rec-sample-table")]
        if admin:
            parts.append(_access_form(rules))
        return html.Div(parts), not admin

    @app.callback(
        Output("rec-access-result", "children"),
        Output("rec-table", "rowData"),
        Input("rec-access-save", "n_clicks"),
        State("rec-table", "selectedRows"),
        State("rec-access-owner", "value"),
        State("rec-access-sensitive", "value"),
        State("rec-access-public", "value"),
        prevent_initial_call=True,
    )
    def save_access(
        _: Any,
        selected: list[dict[str, Any]] | None,
        owner: str | None,
        sensitive: list[str] | None,
        public: list[str] | None,
    ) -> tuple[Any, Any]:
        user = auth.current_user()
        name = _selected_name(selected)
        access, error = attempt(
            lambda: change_access(user, name or "", owner or None, sensitive or [], "public" in (public or []))
        )
        if error is not None:
            return error, no_update
        # The grid's rows are replaced in place (rows keep their ids), so the selection and this form stay.
        rows = table_rows(_collections_frame(collection_rows(user)))
        return notice(_t("Saved: {who}.", who=_t(ACCESS[access or "private"])), "success"), rows

    @app.callback(
        Output("rec-delete-result", "children"),
        Output("rec-list", "children", allow_duplicate=True),
        Input("rec-delete", "n_clicks"),
        State("rec-table", "selectedRows"),
        prevent_initial_call=True,
    )
    def delete(_: Any, selected: list[dict[str, Any]] | None) -> tuple[Any, Any]:
        user = auth.current_user()
        name = _selected_name(selected)
        _, error = attempt(lambda: delete_collection(user, name))
        if error is not None:
            return error, no_update
        return notice(_t("Deleted the collection '{name}'.", name=name), "success"), collection_list(user)
