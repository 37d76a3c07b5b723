"""Lexical tokens for keyword search: normalisation, tokens, and PostgreSQL literals."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from knowledge import lexical
from knowledge.lexical import normalize, query_tokens, tokens, tsquery_literal, tsvector_literal

REPO = Path(__file__).resolve().parents[2]
# One lexeme entry of a tsvector literal: a quoted lexeme ('' and \x escapes inside),
# a colon and comma-separated positions.
_TSVECTOR_ENTRY = re.compile(r"'(?:[^'\\]|''|\\.)+':\d+(?:,\d+)*")
_TSQUERY_TERM = re.compile(r"'(?:[^'\\]|''|\\.)+'")


# --- normalize -------------------------------------------------------------------


def test_normalize_folds_width_case_and_traditional_script() -> None:
    assert normalize("ＡＢＣ１２３　Ｏｒｄｅｒ") == "abc123 order"
    assert normalize("退貨運費") == "退货运费"
    assert normalize("我的信用卡怎麼還款？") == "我的信用卡怎么还款?"


def test_normalize_keeps_simplified_and_english_as_they_are() -> None:
    text = "订单10023在哪里 where is order 10023"
    assert normalize(text) == text


def test_normalize_converts_text_longer_than_one_opencc_slice() -> None:
    text = "臺灣的退貨運費 " * 20_000  # 160k characters: converted in slices

    assert normalize(text) == "台湾的退货运费 " * 20_000


# --- tokens: English -------------------------------------------------------------


def test_english_sentence_drops_stopwords_and_stems_inflections() -> None:
    assert tokens("Where are my refunds? Shipping was delayed and I was charged twice.") == [
        "refund",
        "ship",
        "delay",
        "charg",
        "twice",
    ]


@pytest.mark.parametrize(
    ("plain", "inflected"),
    [
        ("refund", "refunds"),
        ("ship", "shipping"),
        ("ship", "shipped"),
        ("box", "boxes"),
        ("address", "addresses"),
        ("policy", "policies"),
        ("delivery", "deliveries"),
        ("charge", "charged"),
        ("store", "stored"),
        ("control", "controlled"),
        ("customer", "customer's"),
    ],
)
def test_inflected_english_word_matches_its_plain_form(plain: str, inflected: str) -> None:
    assert tokens(plain) == tokens(inflected)
    assert len(tokens(plain)) == 1


def test_english_tokens_named_in_the_design() -> None:
    assert tokens("refunds shipping") == ["refund", "ship"]


def test_only_stopwords_give_no_tokens() -> None:
    assert tokens("how do I do this? it is what it is") == []


# --- tokens: Chinese ---------------------------------------------------------------


def test_chinese_sentence_has_words_and_bigrams_without_stopwords() -> None:
    result = tokens("我的信用卡怎么还款")

    assert result == ["信用卡", "信用", "用卡", "还款"]
    assert not {"我", "的", "我的", "怎么", "的信", "卡怎", "么还"} & set(result)


def test_traditional_and_simplified_give_the_same_tokens() -> None:
    pairs = [
        ("我的信用卡怎麼還款？", "我的信用卡怎么还款？"),
        ("退貨運費由誰負擔", "退货运费由谁负担"),
        ("會員積分兌換優惠券", "会员积分兑换优惠券"),
        ("臺灣門市營業時間", "台湾门市营业时间"),
        ("衞生紙", "卫生纸"),  # Hong Kong variant
    ]
    for traditional, simplified in pairs:
        assert tokens(traditional) == tokens(simplified), traditional


def test_mixed_chinese_and_order_number() -> None:
    assert tokens("订单10023在哪里") == ["订单", "10023"]
    assert tokens("訂單10023在哪裡？") == ["订单", "10023"]


def test_mixed_chinese_and_english_keep_reading_order() -> None:
    assert tokens("iPhone15退款 refunds 要3天") == ["iphone15", "退款", "refund", "3", "天"]


def test_single_character_is_kept_only_when_it_stands_alone() -> None:
    assert tokens("第3期") == ["第", "3", "期"]
    assert "退" not in tokens("退款")


def test_decimal_numbers_are_one_token() -> None:
    assert tokens("运费9.9元") == ["运费", "9.9", "元"]


def test_segmentation_differences_still_share_bigrams() -> None:
    document = set(tokens("退貨運費由誰負擔"))
    query = set(query_tokens("退货的运费"))

    assert {"退货", "运费"} <= document & query


def test_tokens_of_normalized_text_are_the_same() -> None:
    text = "臺灣門市 Ｒｅｆｕｎｄｓ 訂單10023 的運費"
    assert tokens(normalize(text)) == tokens(text)


@pytest.mark.parametrize(
    "text", ["", "   ", "😀🎉", "\x00", "\x00\x00abc\x00", "。。！？……", "!!!???", "—·•"]
)
def test_inputs_without_words_give_no_tokens_and_empty_literals(text: str) -> None:
    expected = ["abc"] if "abc" in text else []

    assert tokens(text) == expected
    if not expected:
        assert tsvector_literal(text) == ""
        assert tsquery_literal(text) is None


def test_emoji_between_words_is_ignored() -> None:
    assert tokens("退款😀refund🎉") == ["退款", "refund"]


def test_tokens_are_deterministic_within_a_process() -> None:
    text = "我的信用卡怎麼還款? Refunds for order 10023 shipped to 臺灣."
    assert tokens(text) == tokens(text)
    assert tsvector_literal(text) == tsvector_literal(text)


def test_tokens_are_the_same_in_another_process_with_another_hash_seed() -> None:
    text = "我的信用卡怎麼還款? Refunds for order 10023 shipped to 臺灣, 会员积分兑换优惠券."
    script = f"from knowledge.lexical import tsvector_literal; print(tsvector_literal({text!r}))"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONIOENCODING": "utf-8"}

    child = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )

    assert child.stdout.strip() == tsvector_literal(text)


# --- query tokens ----------------------------------------------------------------


def test_query_tokens_are_deduplicated_in_order() -> None:
    assert query_tokens("refund refunds 退款 退款 refund") == ["refund", "退款"]


# --- tsvector / tsquery literals -------------------------------------------------


def test_tsvector_literal_lists_positions_per_lexeme() -> None:
    assert tsvector_literal("refunds shipping refund") == "'refund':1,3 'ship':2"


def test_tsquery_literal_ors_distinct_query_tokens() -> None:
    assert tsquery_literal("refunds and shipping refunds") == "'refund' | 'ship'"


@pytest.mark.parametrize(
    "text",
    [
        "it's O'Reilly's \\ back\\slash 'quoted' \"double\"",
        "ab:cd & ef|gh !ij (kl) <-> mn:* op:A",
        "'' '\\' \\' :1,2 | & !",
        "退款'退货\\运费:1 & 订单|10023 !",
    ],
)
def test_operator_and_quote_characters_do_not_break_the_literals(text: str) -> None:
    vector = tsvector_literal(text)
    query = tsquery_literal(text)

    assert vector
    assert _TSVECTOR_ENTRY.sub("", vector).strip() == ""
    assert query is not None
    assert all(_TSQUERY_TERM.fullmatch(term) for term in query.split(" | "))


def test_quote_escapes_quotes_and_backslashes() -> None:
    # tokens() never yields these characters; the quoting must still be safe if one does.
    assert lexical._quote("it's") == "'it''s'"
    assert lexical._quote("a\\b") == "'a\\\\b'"


def test_tsvector_positions_are_capped() -> None:
    vector = tsvector_literal("refund " * 20_000)
    positions = [int(p) for p in vector.split(":", 1)[1].split(",")]

    assert vector.startswith("'refund':")
    assert len(positions) <= 256
    assert max(positions) <= 16383
    assert positions == sorted(set(positions))


def test_tsvector_keeps_at_most_4000_lexemes_and_late_positions_clamped() -> None:
    text = " ".join(f"w{i}" for i in range(20_000))
    vector = tsvector_literal(text)
    entries = vector.split(" ")

    assert len(entries) == 4000
    assert entries[0] == "'w0':1"
    assert entries[-1] == "'w3999':4000"


def test_clamped_positions_collapse_to_one() -> None:
    text = " ".join(f"w{i % 3000}" for i in range(30_000))
    for entry in tsvector_literal(text).split(" "):
        positions = [int(p) for p in entry.split(":", 1)[1].split(",")]
        assert max(positions) <= 16383
        assert len(positions) == len(set(positions))


def test_lexemes_longer_than_200_bytes_are_dropped() -> None:
    long_word = "x" * 201
    long_cjk_word = "退" * 67  # 201 bytes in UTF-8

    assert tokens(f"{long_word} refund") == ["refund"]
    assert all(len(t.encode()) <= 200 for t in tokens(long_cjk_word))
    assert tokens("9" * 200) == ["9" * 200]


def test_long_query_is_limited_to_256_terms() -> None:
    query = tsquery_literal(" ".join(f"w{i}" for i in range(1000)))

    assert query is not None
    assert len(query.split(" | ")) == 256


# --- loading ---------------------------------------------------------------------


def test_first_use_from_many_threads_loads_the_engines_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_load = lexical._load_engines

    def counting_load() -> lexical._Engines:
        calls.append(1)
        return real_load()

    monkeypatch.setattr(lexical, "_loaded", None)
    monkeypatch.setattr(lexical, "_load_engines", counting_load)
    lexical._short_cjk_tokens.cache_clear()
    start = threading.Barrier(8)
    results: list[list[str]] = []

    def tokenise() -> None:
        start.wait()
        results.append(tokens("我的信用卡怎麼還款"))

    threads = [threading.Thread(target=tokenise) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert calls == [1]
    assert results == [["信用卡", "信用", "用卡", "还款"]] * 8


def _faq_passages(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    zh = (  # noqa: SIM905
        "如何 申请 退货 退款 订单 物流 快递 运费 发票 信用卡 还款 会员 积分 优惠券 账号 密码 "
        "修改 地址 取消 门市 營業 時間 退貨 運費 帳號 配送 海外 关税 发货 签收 包裹 我的 请问 吗"
    ).split()
    en = "how do i request a refund for my order shipping tracking invoice password delivery".split()  # noqa: SIM905
    passages = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(3, 7)):
            roll = rng.random()
            if roll < 0.6:
                parts.append("".join(rng.choices(zh, k=rng.randint(1, 3))))
            elif roll < 0.9:
                parts.append(" ".join(rng.choices(en, k=rng.randint(1, 3))))
            else:
                parts.append(str(rng.randint(1, 99_999)))
            parts.append(rng.choice(["，", "。", "？", " ", ", "]))
        passages.append("".join(parts))
    return passages


# --- PostgreSQL accepts the literals --------------------------------------------


@pytest.mark.integration
def test_postgresql_parses_literals_and_matches_across_scripts_and_inflections(tmp_path: Path) -> None:
    pgserver = pytest.importorskip("pgserver")
    psycopg = pytest.importorskip("psycopg")
    server = pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:

            def matches(document: str, query: str) -> bool:
                row = conn.execute(
                    "SELECT CAST(%s AS tsvector) @@ CAST(%s AS tsquery)",
                    (tsvector_literal(document), tsquery_literal(query)),
                ).fetchone()
                assert row is not None
                return bool(row[0])

            # A Simplified question finds a Traditional passage, an English plural a singular.
            assert matches("信用卡如何還款？請於每月10日前繳費。", "我的信用卡怎么还款")
            assert matches("We ship every refund within 3 days.", "refunds shipping")
            assert matches("订单10023已发货", "訂單10023在哪裡")
            assert not matches("会员积分兑换优惠券", "信用卡还款")

            awkward = "it's O'Reilly's \\ back\\slash ab:cd & ef|gh !ij (kl) <-> mn:* 退款'退货\\运费"
            for literal in (tsvector_literal(awkward), lexical._quote("it's \\ odd:1 & |")):
                conn.execute("SELECT CAST(%s AS tsvector)", (literal,))
            conn.execute("SELECT CAST(%s AS tsquery)", (tsquery_literal(awkward),))
            conn.execute("SELECT CAST(%s AS tsquery)", (lexical._quote("it's \\ odd:* & |"),))

            quoted = conn.execute("SELECT CAST(%s AS tsvector)::text", (lexical._quote("it's\\"),)).fetchone()
            assert quoted == ("'it''s\\\\'",)

            stored = conn.execute(
                "SELECT CAST(%s AS tsvector)::text, CAST('' AS tsvector)::text",
                (tsvector_literal("refund " * 20_000 + " ".join(f"w{i}" for i in range(5000))),),
            ).fetchone()
            assert stored is not None
            assert stored[0].count("'w") == 3999  # 4000 lexemes including 'refund'
            assert stored[1] == ""
    finally:
        server.cleanup()
