"""Domain error messages in Chinese in the admin app (issue 22): every message of the modules the admin
app writes through has a Chinese entry, and a translated message keeps its values."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dash_app.errors_zh import ERRORS_ZH, translate_error

ROOT = Path(__file__).resolve().parents[2]
# What the admin app's pages call: uploads and parsing, FAQ entries and rows, records, evaluation sets,
# website sources, periods and exports, users/keys/origins/time zone, widget look, bot settings,
# office hours, webhooks.
MODULES = [
    *sorted((ROOT / "knowledge" / "parsing").glob("*.py")), *sorted((ROOT / "knowledge" / "sources").glob("*.py")),
    *(ROOT / "knowledge" / f"{name}.py" for name in (
        "commands", "curation", "documents", "evaluation", "evaluation_set", "faq_overrides",
        "phrasing_suggestions", "record_sheets", "records", "reranker_settings", "similar_questions")),
    *(ROOT / "analytics" / f"{name}.py" for name in ("exports", "period")),
    *(ROOT / "core" / f"{name}.py" for name in ("tenancy", "widget_appearance")),
    *(ROOT / "chat" / f"{name}.py" for name in ("bot_settings", "service_hours", "webhooks", "http_tool_specs",
                                                "model_choice")),
]
ERRORS = {"ValidationFailed", "NotFound", "PermissionDenied", "Conflict", "UnsupportedFormat", "PayloadTooLarge",
          "EmptyUpload", "DocumentParseError", "ServiceUnavailable"}


def _literal(node: ast.expr) -> str | None:
    """A message as written, with `{}` for each value an f-string puts in it."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        return left + right if left is not None and right is not None else None
    return None


def raised_messages() -> list[tuple[str, str]]:
    found = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERRORS
                    and node.args and (message := _literal(node.args[0])) is not None):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", message))
    return found


def test_the_catalog_reads_the_modules():
    assert len(raised_messages()) > 150  # the walk finds the raises (a broken walk would pass vacuously)


def test_every_message_of_the_admin_apps_modules_has_chinese():
    missing = [f"{where}: {message!r}" for where, message in raised_messages() if message not in ERRORS_ZH]
    assert not missing, "add these to dash_app/errors_zh.py:\n" + "\n".join(missing)


@pytest.mark.parametrize("english", list(ERRORS_ZH))
def test_each_entry_is_chinese_and_takes_its_values(english):
    parts = english.split("{}")  # the message as raised, each `{}` filled (other braces are the message's own)
    filled = "".join(part + (f"V{i}" if i < len(parts) - 1 else "") for i, part in enumerate(parts))
    chinese = translate_error(filled)
    assert chinese is not None and re.search(r"[\u4e00-\u9fff]", chinese), english


def test_values_stay_in_place_and_unknown_messages_are_left_alone():
    assert translate_error("The file is 12 MB; the limit is 10 MB per file.") == "文件大小为 12 MB，每个文件上限为 10 MB。"
    assert translate_error("The JSON file is not valid JSON: Expecting value at line 3, column 7.") == (
        "JSON 文件格式无效：第 3 行第 7 列，Expecting value。")
    assert translate_error("No record collection 'orders' in this tenant.") == "没有名为“orders”的记录集合。"
    assert translate_error("Placeholder {city} in url_template is not a declared parameter.") == (
        "网址模板中的占位符 {city} 不是已声明的参数。")
    assert translate_error("Something nobody wrote down.") is None
