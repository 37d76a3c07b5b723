"""PDF text made fit to show a customer: compatibility characters, hyphenation, running headers and footers."""

from __future__ import annotations

from knowledge.parsing import parse_document
from knowledge.parsing.pdf_cleanup import clean_pages, fold_compatibility_characters
from tests.unit.test_parsing import pdf_bytes


def test_kangxi_radicals_and_compatibility_ideographs_become_ordinary_characters() -> None:
    # ⽉⽇⼯ are Kangxi radicals (U+2F49, U+2F47, U+2F2F); 﨑 is a compatibility ideograph; ﬁ a ligature.
    assert fold_compatibility_characters("工作⽇：周⼀⾄周五，9⽉起 ﬁle") == "工作日：周一至周五，9月起 file"


def test_chinese_full_width_punctuation_is_left_as_written() -> None:
    text = "可以开发票吗？可以！请在下单时填写抬头，谢谢。"
    assert fold_compatibility_characters(text) == text


def test_words_split_by_a_line_break_hyphen_are_joined_but_real_hyphens_stay() -> None:
    [page] = clean_pages(["Refunds are pro-\ncessed within a well-known\nperiod: 3-5 days."])
    assert page == "Refunds are processed within a well-known\nperiod: 3-5 days."


def test_running_headers_footers_and_page_numbers_are_dropped() -> None:
    pages = [f"ACME Handbook 2026\nSection {n} text about returns.\nMore on topic {n}.\nPage {n} of 4"
             for n in range(1, 5)]
    assert clean_pages(pages) == [f"Section {n} text about returns.\nMore on topic {n}." for n in range(1, 5)]
    assert clean_pages(["第 2 页\n正文内容\n- 3 -"]) == ["正文内容"]


def test_a_line_on_only_some_pages_is_kept() -> None:
    pages = ["Shipping\nWe ship daily.", "Returns\nWithin 30 days.", "Shipping\nTo Hong Kong too.", "Invoices\nOn request."]
    assert clean_pages(pages) == pages


def test_pdf_upload_is_cleaned_page_by_page() -> None:
    pages = [["Lotus Tea Guide", f"Chapter {n}: brewing green tea at 80 degrees.", f"- {n} -"] for n in range(1, 4)]
    passages = parse_document("guide.pdf", pdf_bytes(pages))
    assert [p.text for p in passages] == [f"Chapter {n}: brewing green tea at 80 degrees." for n in range(1, 4)]
