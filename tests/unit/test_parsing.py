"""Parsing uploads into passages: detection, upload checks, Q&A tables, prose formats, safety."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator

import docx
import openpyxl
import pytest
from pypdf import PdfReader, PdfWriter

from core.errors import DocumentParseError, EmptyUpload, PayloadTooLarge, UnsupportedFormat
from core.settings import get_settings
from knowledge.parsing import (
    SUPPORTED_EXTENSIONS,
    Passage,
    check_upload,
    decode_text,
    detect_format,
    parse_document,
    safe_filename,
)

UNSUPPORTED_MESSAGE = "Upload one of: CSV, XLSX, Markdown, HTML, TXT, PDF, DOCX, JSON."


# --- fixtures built in code -----------------------------------------------------------------------


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Override settings for one test: configure(max_rows_per_document=10)."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"KEFU_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield apply
    get_settings.cache_clear()


def xlsx_bytes(*sheets: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for index, rows in enumerate(sheets):
        sheet = workbook.create_sheet(f"Sheet{index + 1}")
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("Intro before any heading.")
    document.add_heading("Returns", level=1)
    document.add_paragraph("You can return items within 30 days.")
    document.add_heading("Refund timing", level=2)
    document.add_paragraph("Refunds arrive within 5 working days.")
    document.add_heading("Contact", level=1)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Phone"
    table.cell(0, 1).text = "400-123-4567"
    table.cell(1, 0).text = "Email"
    table.cell(1, 1).text = "help@example.com"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per entry, an empty list is a blank page."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        shown = " T* ".join(f"({escape(line)}) Tj" for line in lines)
        content = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode() if lines else b""
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * index} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def faqs(passages: list[Passage]) -> list[tuple[str, str, str | None]]:
    return [(p.metadata["question"], p.metadata["answer"], p.source_ref) for p in passages]


# --- format detection -----------------------------------------------------------------------------


def test_supported_extensions() -> None:
    assert SUPPORTED_EXTENSIONS == {
        ".csv": "csv",
        ".xlsx": "xlsx",
        ".md": "markdown",
        ".markdown": "markdown",
        ".html": "html",
        ".htm": "html",
        ".txt": "text",
        ".pdf": "pdf",
        ".docx": "docx",
        ".json": "json",
    }


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("faq.csv", b"question,answer\n", "csv"),
        ("FAQ.CSV", b"question,answer\n", "csv"),
        ("book.xlsx", xlsx_bytes([["question", "answer"]]), "xlsx"),
        ("readme.md", b"# Hi", "markdown"),
        ("readme.markdown", b"# Hi", "markdown"),
        ("page.html", b"<p>hi</p>", "html"),
        ("page.htm", b"<p>hi</p>", "html"),
        ("notes.txt", b"hi", "text"),
        ("manual.pdf", pdf_bytes([["hi"]]), "pdf"),
        ("manual.docx", docx_bytes(), "docx"),
        ("faq.json", b"[]", "json"),
        ("常见问题.csv", "问题,答案\n".encode(), "csv"),
    ],
)
def test_detect_format_by_extension(filename: str, data: bytes, expected: str) -> None:
    assert detect_format(filename, data) == expected


@pytest.mark.parametrize("filename", ["setup.exe", "photo.png", "old.doc", "old.xls", "archive.zip"])
def test_unsupported_extensions_are_refused_with_the_list_of_formats(filename: str) -> None:
    ext = filename[filename.rindex(".") :]

    with pytest.raises(UnsupportedFormat) as caught:
        detect_format(filename, b"MZ\x90\x00binary")

    assert str(caught.value).startswith(f"Unsupported file type '{ext}'. {UNSUPPORTED_MESSAGE}")
    assert caught.value.status_code == 415


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("manual.pdf", b"just text, not a pdf"),
        ("book.xlsx", b"question,answer\n"),
        ("book.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel"),
        ("letter.docx", b"plain text"),
        ("faq.csv", zip_bytes({"a.txt": b"x"})),
        ("notes.txt", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("page.html", b"\x89PNG\r\n\x1a\n"),
    ],
)
def test_content_that_contradicts_the_extension_is_refused(filename: str, data: bytes) -> None:
    with pytest.raises(UnsupportedFormat):
        detect_format(filename, data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'[{"question": "q", "answer": "a"}]', "json"),
        (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", "html"),
        (b"Just some notes.\nAnother line.", "text"),
        (pdf_bytes([["hi"]]), "pdf"),
    ],
)
def test_files_without_extension_are_sniffed(data: bytes, expected: str) -> None:
    assert detect_format("upload", data) == expected


def test_text_that_happens_to_start_like_an_executable_is_accepted() -> None:
    assert detect_format("notes.txt", b"MZ Corp FAQ\nWe sell things.") == "text"


def test_nul_padded_binary_without_extension_is_refused() -> None:
    with pytest.raises(UnsupportedFormat):
        detect_format("upload", b"\x00" * 500 + b"abc")


def test_content_type_helps_when_there_is_no_extension() -> None:
    assert detect_format("upload", b"question,answer\nq,a\n", "text/csv; charset=utf-8") == "csv"


@pytest.mark.parametrize(
    "data", [b"MZ\x90\x00\x03\x00", b"\x00\x01\x02\x03\x04\x05\x06" * 20, b"\x89PNG\r\n"]
)
def test_binary_files_without_extension_are_refused(data: bytes) -> None:
    with pytest.raises(UnsupportedFormat):
        detect_format("upload", data)


# --- file names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x.csv", "x.csv"),
        ("/var/tmp/faq.csv", "faq.csv"),
        ("C:\\Users\\me\\Desktop\\faq.xlsx", "faq.xlsx"),
        ("中文.csv", "中文.csv"),
        ("fa\x00q\x1b.csv", "faq.csv"),
        ("report\u202etxt.exe", "reporttxt.exe"),
        ("..", "upload"),
        ("", "upload"),
        ("../", "upload"),
        ("  spaced   name .md ", "spaced name .md"),
    ],
)
def test_safe_filename(filename: str, expected: str) -> None:
    assert safe_filename(filename) == expected


def test_safe_filename_truncates_to_200_chars_keeping_the_extension() -> None:
    name = safe_filename("问" * 500 + ".xlsx")

    assert len(name) == 200
    assert name.endswith(".xlsx")


# --- upload checks --------------------------------------------------------------------------------


def test_empty_upload_is_refused() -> None:
    with pytest.raises(EmptyUpload, match="The file is empty"):
        check_upload("faq.csv", b"")


def test_oversized_upload_is_refused(configure: Callable[..., None]) -> None:
    configure(max_upload_bytes=1024)

    with pytest.raises(PayloadTooLarge, match="limit"):
        check_upload("faq.csv", b"question,answer\n" + b"x" * 2000)


def test_check_upload_returns_the_format() -> None:
    assert check_upload("faq.csv", b"question,answer\nq,a\n", "text/csv") == "csv"


def test_check_upload_refuses_unsupported_types() -> None:
    with pytest.raises(UnsupportedFormat, match=r"Unsupported file type '\.exe'"):
        check_upload("setup.exe", b"MZ\x90\x00")


# --- text decoding --------------------------------------------------------------------------------

TEXT = "问题,答案\n怎么退货？,七天内可以无理由退货。\n"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        b"\xef\xbb\xbf" + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),
        b"\xfe\xff" + TEXT.encode("utf-16-be"),
        TEXT.encode("gbk"),
        TEXT.encode("gb18030"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "gbk", "gb18030"],
)
def test_decode_text_detects_common_encodings(data: bytes) -> None:
    assert decode_text(data) == TEXT


def test_decode_text_handles_short_gbk() -> None:
    assert decode_text("问题,答案\n你好,您好\n".encode("gbk")) == "问题,答案\n你好,您好\n"


def test_decode_text_never_raises_on_arbitrary_bytes() -> None:
    text = decode_text(bytes(range(256)) * 3)
    assert isinstance(text, str)
    assert "\x00" not in text


def test_decode_text_strips_nul_and_normalises_to_nfc() -> None:
    assert decode_text("cafe\u0301\x00!".encode()) == "caf\u00e9!"


# --- CSV Q&A --------------------------------------------------------------------------------------


def test_csv_rows_become_faq_passages() -> None:
    data = (
        b"id,question,answer,category\n"
        b"R1,How do I return?,Within 30 days.,returns\n"
        b"R2,Shipping?,Free.,shipping\n"
    )

    passages = parse_document("faq.csv", data)

    assert passages == [
        Passage(
            "How do I return?\nWithin 30 days.",
            "R1",
            {
                "kind": "faq",
                "question": "How do I return?",
                "answer": "Within 30 days.",
                "category": "returns",
            },
        ),
        Passage(
            "Shipping?\nFree.",
            "R2",
            {"kind": "faq", "question": "Shipping?", "answer": "Free.", "category": "shipping"},
        ),
    ]


def test_csv_without_id_uses_data_row_numbers_and_no_category_key() -> None:
    passages = parse_document("faq.csv", b"question,answer\nq1,a1\nq2,a2\n")

    assert [p.source_ref for p in passages] == ["1", "2"]
    assert all("category" not in p.metadata for p in passages)


@pytest.mark.parametrize(
    "header",
    [
        "question,answer",
        " Question , ANSWER ",
        "Q,A",
        "Query,Response",
        "title,content",
        "问题,答案",
        "问,答",
        "提问,回答",
        "标准问题,回复",
        "问句,解答",
        "Questions,Answers",
    ],
)
def test_csv_headers_are_matched_case_and_space_insensitively(header: str) -> None:
    passages = parse_document("faq.csv", f"{header}\n怎么退货,七天内\n".encode())

    assert faqs(passages) == [("怎么退货", "七天内", "1")]


@pytest.mark.parametrize("header", ["ID", "faq_id", "FAQ ID", "编号", "序号"])
def test_csv_id_column_aliases(header: str) -> None:
    passages = parse_document("faq.csv", f"{header},问题,答案\nX-7,q,a\n".encode())

    assert passages[0].source_ref == "X-7"


@pytest.mark.parametrize("header", ["category", "Type", "分类", "类别", "类型"])
def test_csv_category_column_aliases(header: str) -> None:
    passages = parse_document("faq.csv", f"问题,答案,{header}\nq,a,售后\n".encode())

    assert passages[0].metadata["category"] == "售后"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(encoding: str) -> None:
    data = "编号,问题,答案\n1,怎么退货？,七天内可以退货，请保留小票。\n".encode(encoding)

    assert faqs(parse_document("faq.csv", data)) == [("怎么退货？", "七天内可以退货，请保留小票。", "1")]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiter_is_sniffed(delimiter: str) -> None:
    rows = [["id", "question", "answer"], ["1", "Price, roughly?", "About 10; maybe 12."]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)

    passages = parse_document("faq.csv", buffer.getvalue().encode())

    assert faqs(passages) == [("Price, roughly?", "About 10; maybe 12.", "1")]


def test_csv_quoted_fields_keep_commas_and_newlines() -> None:
    data = b'question,answer\n"Where, exactly?","Line one\nLine two"\n'

    assert faqs(parse_document("faq.csv", data)) == [("Where, exactly?", "Line one\nLine two", "1")]


def test_csv_header_may_follow_a_title_line() -> None:
    data = "常见问题导出 2024-05-01\n\n问题,答案\n怎么退货,七天内\n".encode()

    assert faqs(parse_document("faq.csv", data)) == [("怎么退货", "七天内", "1")]


def test_csv_rows_missing_question_or_answer_are_skipped() -> None:
    data = b"question,answer\nq1,a1\n,\nq2,\n,a3\nq4,a4\n"

    assert faqs(parse_document("faq.csv", data)) == [("q1", "a1", "1"), ("q4", "a4", "5")]


def test_csv_with_no_usable_rows_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match="both a question and an answer"):
        parse_document("faq.csv", b"question,answer\nq1,\n,a2\n")


def test_csv_with_only_a_header_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match="no rows"):
        parse_document("faq.csv", b"question,answer\n")


def test_csv_without_recognisable_columns_names_what_it_found() -> None:
    with pytest.raises(DocumentParseError) as caught:
        parse_document("faq.csv", b"colA,colB\nx,y\n")

    message = str(caught.value)
    assert "expected columns question and answer (or 问题 and 答案); found: colA, colB" in message


def test_csv_duplicate_ids_are_kept() -> None:
    passages = parse_document("faq.csv", b"id,question,answer\n7,q1,a1\n7,q2,a2\n")

    assert [p.source_ref for p in passages] == ["7", "7"]


def test_csv_over_the_row_limit_is_an_error(configure: Callable[..., None]) -> None:
    configure(max_rows_per_document=10)
    data = "question,answer\n" + "".join(f"q{n},a{n}\n" for n in range(11))

    with pytest.raises(DocumentParseError, match="limit is 10 rows"):
        parse_document("faq.csv", data.encode())


def test_csv_at_the_row_limit_is_fine(configure: Callable[..., None]) -> None:
    configure(max_rows_per_document=10)
    data = "question,answer\n" + "".join(f"q{n},a{n}\n" for n in range(10))

    assert len(parse_document("faq.csv", data.encode())) == 10


def test_csv_with_100k_rows_parses_completely(configure: Callable[..., None]) -> None:
    configure(max_upload_bytes=50 * 1024 * 1024)
    data = ("id,question,answer\n" + "".join(f"{n},问题{n},答案{n}\n" for n in range(100_000))).encode()

    passages = parse_document("big.csv", data)

    assert len(passages) == 100_000
    assert passages[-1].source_ref == "99999"


def test_csv_with_invalid_utf8_and_nul_bytes_does_not_crash() -> None:
    data = b"question,answer\nq\x00uestion \xff\xfe,ans\x00wer\n"

    passages = parse_document("faq.csv", data)

    assert len(passages) == 1
    assert "\x00" not in passages[0].text


def test_csv_text_is_nfc_normalised() -> None:
    passages = parse_document("faq.csv", "question,answer\ncafe\u0301,ok\n".encode())

    assert passages[0].metadata["question"] == "caf\u00e9"


# --- XLSX Q&A -------------------------------------------------------------------------------------


def test_xlsx_rows_become_faq_passages() -> None:
    data = xlsx_bytes(
        [
            ["编号", "问题", "答案", "分类"],
            [1, "怎么退货？", "七天内。", "售后"],
            [2, "运费？", "包邮。", None],
        ]
    )

    passages = parse_document("faq.xlsx", data)

    assert faqs(passages) == [("怎么退货？", "七天内。", "1"), ("运费？", "包邮。", "2")]
    assert passages[0].text == "怎么退货？\n七天内。"
    assert passages[0].metadata["category"] == "售后"


def test_xlsx_header_may_be_below_title_rows() -> None:
    data = xlsx_bytes([["FAQ export"], [], ["Question", "Answer"], ["q1", "a1"]])

    assert faqs(parse_document("faq.xlsx", data)) == [("q1", "a1", "1")]


def test_xlsx_uses_the_first_sheet_with_recognisable_columns() -> None:
    data = xlsx_bytes([["Notes"], ["nothing here"]], [["Q", "A"], ["q1", "a1"], [None, None], ["q3", 42]])

    assert faqs(parse_document("faq.xlsx", data)) == [("q1", "a1", "1"), ("q3", "42", "3")]


def test_xlsx_without_recognisable_columns_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match=r"expected columns.*found: name, price"):
        parse_document("faq.xlsx", xlsx_bytes([["name", "price"], ["pen", 2]]))


def test_xlsx_over_the_row_limit_is_an_error(configure: Callable[..., None]) -> None:
    configure(max_rows_per_document=5)
    data = xlsx_bytes([["question", "answer"], *[[f"q{n}", f"a{n}"] for n in range(6)]])

    with pytest.raises(DocumentParseError, match="limit is 5 rows"):
        parse_document("faq.xlsx", data)


def test_damaged_xlsx_is_an_error() -> None:
    data = xlsx_bytes([["question", "answer"], ["q", "a"]])

    with pytest.raises(DocumentParseError, match="The XLSX file is damaged or not an XLSX file"):
        parse_document("faq.xlsx", data[: len(data) // 2])


def test_zip_that_is_not_a_workbook_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match="damaged"):
        parse_document("faq.xlsx", zip_bytes({"hello.txt": b"hello"}))


# --- zip bombs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["bomb.xlsx", "bomb.docx"])
def test_highly_compressed_member_is_refused_as_zip_bomb(filename: str) -> None:
    data = zip_bytes({"xl/worksheets/sheet1.xml": b"\x00" * (12 * 1024 * 1024)})

    with pytest.raises(DocumentParseError, match="looks like a zip bomb"):
        parse_document(filename, data)


@pytest.mark.parametrize("filename", ["big.xlsx", "big.docx"])
def test_archive_over_the_decompressed_limit_is_refused(
    filename: str, configure: Callable[..., None]
) -> None:
    configure(max_decompressed_bytes=1024 * 1024)
    data = zip_bytes({f"part{n}.xml": bytes(range(256)) * 1024 for n in range(5)})

    with pytest.raises(DocumentParseError, match="decompresses to more than 1 MB"):
        parse_document(filename, data)


# --- JSON Q&A -------------------------------------------------------------------------------------


def test_json_list_of_objects() -> None:
    data = json.dumps(
        [
            {"id": "a1", "question": "How?", "answer": "Like this.", "category": "howto"},
            {"question": "Why?", "answer": "Because."},
        ]
    ).encode()

    passages = parse_document("faq.json", data)

    assert faqs(passages) == [("How?", "Like this.", "a1"), ("Why?", "Because.", "2")]
    assert passages[0].metadata["category"] == "howto"


@pytest.mark.parametrize("container", ["faqs", "items", "data", "FAQs"])
def test_json_list_inside_a_container_key(container: str) -> None:
    data = json.dumps({"version": 2, container: [{"问题": "怎么退货", "答案": "七天内"}]}, ensure_ascii=False)

    assert faqs(parse_document("faq.json", data.encode())) == [("怎么退货", "七天内", "1")]


def test_json_values_are_stringified() -> None:
    data = json.dumps([{"Q": "Steps?", "A": ["one", "two"], "ID": 5}]).encode()

    assert faqs(parse_document("faq.json", data)) == [("Steps?", "one\ntwo", "5")]


def test_invalid_json_reports_line_and_column() -> None:
    with pytest.raises(DocumentParseError, match=r"not valid JSON: .* line 2, column \d+"):
        parse_document("faq.json", b'[{"question": "q",\n "answer" "a"}]')


@pytest.mark.parametrize(
    "document",
    ['"just a string"', "42", '{"name": "x"}', "[1, 2, 3]", '[["q", "a"]]'],
)
def test_json_of_the_wrong_shape_explains_the_expected_shape(document: str) -> None:
    with pytest.raises(DocumentParseError, match="expected a list of objects"):
        parse_document("faq.json", document.encode())


def test_json_objects_without_question_keys_name_what_was_found() -> None:
    with pytest.raises(DocumentParseError, match=r"expected columns.*found: name, price"):
        parse_document("faq.json", b'[{"name": "pen", "price": 2}]')


def test_deeply_nested_json_does_not_crash() -> None:
    with pytest.raises(DocumentParseError, match="nested too deeply"):
        parse_document("faq.json", b"[" * 200_000 + b"]" * 200_000)


# --- Markdown -------------------------------------------------------------------------------------

MARKDOWN = """---
title: Help centre
---
Welcome to the **help centre**.

# Returns

You can return [items](https://example.com/returns) within `30` days.

## Refunds

Refunds take 5 days.

| Method | Time |
|--------|------|
| Card   | 3 days |

# 配送

我们支持全国包邮。
"""


def test_markdown_sections_carry_their_heading_path() -> None:
    passages = parse_document("help.md", MARKDOWN.encode())

    assert [(p.metadata.get("heading"), p.text) for p in passages] == [
        (None, "Welcome to the help centre."),
        ("Returns", "Returns\n\nYou can return items within 30 days."),
        ("Returns > Refunds", "Refunds\n\nRefunds take 5 days.\n\nMethod | Time\n\nCard | 3 days"),
        ("配送", "配送\n\n我们支持全国包邮。"),
    ]
    assert all(p.metadata["kind"] == "passage" for p in passages)
    assert [p.source_ref for p in passages] == [None, "#returns", "#refunds", "#配送"]


def test_markdown_chunks_do_not_cross_top_level_sections(configure: Callable[..., None]) -> None:
    configure(chunk_max_chars=120, chunk_overlap_chars=30)
    first = " ".join(f"Returns sentence {n}." for n in range(20))
    second = " ".join(f"Shipping sentence {n}." for n in range(20))

    passages = parse_document("help.md", f"# Returns\n\n{first}\n\n# Shipping\n\n{second}\n".encode())

    assert len(passages) > 4
    for passage in passages:
        assert len(passage.text) <= 120
        assert not ("Returns sentence" in passage.text and "Shipping sentence" in passage.text)
        expected = "Returns" if "Returns sentence" in passage.text else "Shipping"
        assert passage.metadata["heading"] == expected


def test_markdown_without_text_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match="no text"):
        parse_document("empty.md", b"# Only a heading\n\n   \n")


# --- HTML -----------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><title>Help</title><style>p { color: red }</style>
<script>var secret = "tracking";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/faq">FAQ</a></nav>
<h1>Returns</h1>
<p>You can return items within <b>30 days</b> &amp; get a refund.</p>
<h2>Refunds</h2>
<div>Refunds take 5 days.<br>Card refunds are faster.</div>
<table><tr><th>Method</th><th>Time</th></tr><tr><td>Card</td><td>3 days</td></tr></table>
<script>trackPage();</script>
</body></html>
"""


def test_html_keeps_text_and_heading_structure() -> None:
    passages = parse_document("help.html", HTML.encode())

    assert [(p.metadata.get("heading"), p.text) for p in passages] == [
        ("Returns", "Returns\n\nYou can return items within 30 days & get a refund."),
        (
            "Returns > Refunds",
            "Refunds\n\nRefunds take 5 days.\n\nCard refunds are faster.\n\nMethod | Time\n\nCard | 3 days",
        ),
    ]


def test_html_drops_scripts_styles_navigation_and_tags() -> None:
    text = " ".join(p.text for p in parse_document("help.html", HTML.encode()))

    for unwanted in ("tracking", "trackPage", "color", "Home", "<", ">"):
        assert unwanted not in text


def test_html_declared_gbk_charset_is_honoured() -> None:
    page = '<html><head><meta charset="gbk"></head><body><p>退货政策：七天无理由。</p></body></html>'

    assert parse_document("page.html", page.encode("gbk"))[0].text == "退货政策：七天无理由。"


# --- plain text -----------------------------------------------------------------------------------


def test_plain_text_is_chunked_by_paragraph(configure: Callable[..., None]) -> None:
    configure(chunk_max_chars=60, chunk_overlap_chars=0)
    text = "First paragraph is here.\n\nSecond paragraph is here.\n\nThird paragraph is longer than the rest."

    passages = parse_document("notes.txt", text.encode())

    assert [p.text for p in passages] == [
        "First paragraph is here.\n\nSecond paragraph is here.",
        "Third paragraph is longer than the rest.",
    ]
    assert all(p.source_ref is None and p.metadata == {"kind": "passage"} for p in passages)


def test_plain_text_in_gbk_with_nul_bytes() -> None:
    data = "我们支持七天无理由退货。".encode("gbk").replace(b"\xa1\xa3", b"\x00\xa1\xa3")

    assert [p.text for p in parse_document("notes.txt", data)] == ["我们支持七天无理由退货。"]


def test_whitespace_only_text_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match="no text"):
        parse_document("notes.txt", b" \n\n\t ")


# --- PDF ------------------------------------------------------------------------------------------


def test_pdf_text_per_page() -> None:
    data = pdf_bytes([["Returns are free.", "Within 30 days (always)."], [], ["Page three text."]])

    passages = parse_document("manual.pdf", data)

    assert passages == [
        Passage("Returns are free. Within 30 days (always).", "p1", {"kind": "passage", "page": 1}),
        Passage("Page three text.", "p3", {"kind": "passage", "page": 3}),
    ]


def test_pdf_without_text_is_reported_as_scanned() -> None:
    with pytest.raises(DocumentParseError, match=r"no text could be extracted \(scanned PDF\?\)"):
        parse_document("scan.pdf", pdf_bytes([[], []]))


def test_password_protected_pdf_is_an_error() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([["Secret text."]]))))
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)

    with pytest.raises(DocumentParseError, match="password"):
        parse_document("locked.pdf", buffer.getvalue())


def test_pdf_encrypted_with_an_empty_password_is_read() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([["Open text."]]))))
    writer.encrypt("", owner_password="owner")
    buffer = io.BytesIO()
    writer.write(buffer)

    assert [p.text for p in parse_document("open.pdf", buffer.getvalue())] == ["Open text."]


@pytest.mark.parametrize("data", [b"%PDF-1.4\ngarbage", pdf_bytes([["text"]])[:150]])
def test_damaged_pdf_is_an_error(data: bytes) -> None:
    with pytest.raises(DocumentParseError, match="PDF"):
        parse_document("broken.pdf", data)


# --- DOCX -----------------------------------------------------------------------------------------


def test_docx_headings_paragraphs_and_tables() -> None:
    passages = parse_document("manual.docx", docx_bytes())

    assert [(p.metadata.get("heading"), p.text) for p in passages] == [
        (None, "Intro before any heading."),
        ("Returns", "Returns\n\nYou can return items within 30 days."),
        ("Returns > Refund timing", "Refund timing\n\nRefunds arrive within 5 working days."),
        ("Contact", "Contact\n\nPhone | 400-123-4567\n\nEmail | help@example.com"),
    ]


def test_damaged_docx_is_an_error() -> None:
    data = docx_bytes()

    with pytest.raises(DocumentParseError, match="The DOCX file is damaged or not a DOCX file: "):
        parse_document("manual.docx", data[: len(data) // 2])


def test_zip_that_is_not_a_document_is_an_error() -> None:
    with pytest.raises(DocumentParseError, match="The DOCX file is damaged or not a DOCX file: "):
        parse_document("manual.docx", zip_bytes({"hello.txt": b"hello"}))


# --- determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("faq.csv", "问题,答案\n怎么退货,七天内\n".encode("gbk")),
        ("faq.xlsx", xlsx_bytes([["question", "answer"], ["q", "a"]])),
        ("faq.json", b'[{"question": "q", "answer": "a"}]'),
        ("help.md", MARKDOWN.encode()),
        ("help.html", HTML.encode()),
        ("manual.pdf", pdf_bytes([["Hello."], ["World."]])),
        ("manual.docx", docx_bytes()),
    ],
)
def test_same_bytes_give_the_same_passages(filename: str, data: bytes) -> None:
    assert parse_document(filename, data) == parse_document(filename, data)
