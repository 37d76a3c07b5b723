"""Lexical (keyword) tokens for the full-text side of hybrid retrieval.

PostgreSQL's own text parser does not segment Chinese, so chunks and queries are
tokenised here and stored as a ready-made ``tsvector`` (``CAST(:lit AS tsvector)``)
and matched with a ready-made ``tsquery``. Document and query go through exactly
the same pipeline, which is what makes them match:

1. :func:`normalize` — NFKC (full-width → half-width), case folding, Traditional →
   Simplified Chinese (OpenCC ``hk2s``: Hong Kong and Taiwan variants included).
2. Split into CJK runs and Latin/number words.
3. Latin words: stopwords dropped, Snowball English stemming (`snowballstemmer`).
4. CJK runs: jieba words (precise mode, no HMM; `rjieba`, the Rust jieba-rs with jieba's
   dictionary, which segments exactly as jieba 0.42 did: tests/unit/test_segmentation_parity.py)
   plus character bigrams, so that a query segmented differently from the document still shares
   bigrams with it.

The segmenter's dictionary and OpenCC's tables are slow to load, so they load lazily, once, under a lock.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import snowballstemmer

if TYPE_CHECKING:
    import rjieba
    from opencc_purepy import OpenCC

__all__ = ["normalize", "query_terms", "query_tokens", "term_tsquery", "tokens", "tsquery_literal", "tsvector_literal"]

# PostgreSQL tsvector limits: positions are 14 bits (larger ones are clamped by the
# server anyway), at most 256 positions per lexeme are kept, and all lexemes of a
# value must fit in 1 MB. 4000 lexemes x 200 bytes stays below that with room.
_MAX_POSITION = 16383
_MAX_POSITIONS_PER_LEXEME = 256
_MAX_LEXEMES = 4000
_MAX_LEXEME_BYTES = 200
# An OR over hundreds of terms only adds noise and planning time; a pasted
# paragraph is still represented by its first terms.
_MAX_QUERY_TERMS = 256
# opencc-purepy switches to a multiprocessing pool for inputs of 1M characters;
# slicing keeps conversion in-process (no forks inside API or worker processes).
_OPENCC_SLICE = 100_000
_CACHED_RUN_LENGTH = 32

# Han ideographs (with extensions), CJK iteration/zero marks, kana and Hangul: scripts
# written without spaces between words, so they are segmented and bigrammed.
_CJK = (
    "\u3005-\u3007\u3040-\u30ff\u31f0-\u31ff\u3130-\u318f\u1100-\u11ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f"
)
HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# One match per run: a CJK run, a decimal/version number (kept whole: "9.9", "1.2.3"),
# or a Latin/number word (word characters that are neither CJK nor "_").
_RUN_RE = re.compile(rf"([{_CJK}]+)|(\d+(?:\.\d+)+)|([^\W_{_CJK}]+)")
# "don't" -> "dont", "customer's" -> "customers": keeps contractions one token.
_APOSTROPHE_RE = re.compile(r"(?<=[a-z])['\u2019](?=[a-z])")
_ASCII_ALPHA_RE = re.compile(r"[a-z]+")

# A word list reads better as text than as a 120-item literal.
_EN_STOPWORDS = frozenset(
    """
    a about after all also am an and any are as at be because been before being but by can
    could did do does doing dont doesnt didnt for from had has have having he her here hers
    him his how i if im in into is isnt it its ive just me more most my no nor not of off on
    once only or other our ours out over own please same she should so some such than that
    the their theirs them then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    """.split()  # noqa: SIM905
)
_ZH_STOPWORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 哦 嗯 嘛 么 是 我 你 您 他 她 它 我们 你们 您们 他们 她们 它们 咱们
    这 那 这个 那个 这些 那些 这里 那里 这儿 那儿 在 和 与 及 或 而 也 都 就 着 过 把 被 让 给
    对 从 向 于 之 其 该 个 地 得 请 请问 一下 怎么 怎样 怎么样 如何 什么 为什么 哪 哪里 哪儿
    哪个 可以 能 能否 是否 有 没有 有没有 会 要 想 又 很
    """.split()  # noqa: SIM905
)


@dataclass(frozen=True)
class _Engines:
    """The lazily loaded, read-only-after-init segmenter and converter."""

    segmenter: rjieba.Jieba
    to_simplified: Callable[[str], str]


_engines_lock = threading.Lock()
_loaded: _Engines | None = None


def _engines() -> _Engines:
    """Load the segmenter and OpenCC once per process (double-checked, thread-safe)."""
    global _loaded
    engines = _loaded
    if engines is not None:
        return engines
    with _engines_lock:
        if _loaded is None:
            _loaded = _load_engines()
        return _loaded


def _load_engines() -> _Engines:
    import rjieba
    from opencc_purepy import OpenCC

    # A private instance: words another module adds to the global dictionary
    # would otherwise change index tokens between ingest and query time.
    segmenter = rjieba.Jieba()
    converter = OpenCC("hk2s")
    # OpenCC builds its lookup tables on first use and caches them without a lock;
    # converting once here means threads only ever read them.
    converter.hk2s("臺灣")
    return _Engines(segmenter=segmenter, to_simplified=_skipping_simplified_text(converter))


def _skipping_simplified_text(converter: OpenCC) -> Callable[[str], str]:
    """``converter.hk2s``, short-circuited for text that no conversion rule can change.

    Most input is already Simplified or English, and OpenCC's matcher is the slowest
    step of tokenising. A rule can only change text that contains a character which
    converts on its own, or the first character of a phrase made only of characters
    that do not (回覆 -> 回复); text without any of those is returned as it is.
    """
    try:
        dictionary = converter.dictionary
        tables = [
            dictionary.hk_variants_rev_phrases[0],
            dictionary.hk_variants_rev[0],
            dictionary.ts_phrases[0],
            dictionary.ts_characters[0],
        ]
    except (AttributeError, IndexError, TypeError):  # another opencc-purepy layout: no shortcut
        return converter.hk2s
    converting = {key for table in tables for key, value in table.items() if len(key) == 1 and key != value}
    triggers = frozenset(converting) | {
        key[0]
        for table in tables
        for key, value in table.items()
        if len(key) > 1 and key != value and converting.isdisjoint(key)
    }

    def to_simplified(text: str) -> str:
        return text if triggers.isdisjoint(text) else converter.hk2s(text)

    return to_simplified


def normalize(text: str) -> str:
    """Normalise text for matching: NFKC, case-folded, Simplified Chinese.

    NFKC also turns full-width letters, digits and punctuation into half-width ones.
    """
    text = _fold(text)
    if HAN_RE.search(text) is None:
        return text
    return _convert_in_slices(_engines().to_simplified, text)


def _fold(text: str) -> str:
    """NFKC and case folding: everything :func:`normalize` does except script conversion."""
    text = unicodedata.normalize("NFKC", text).casefold()
    # Case folding can produce non-NFKC sequences in rare scripts; re-check cheaply.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text


def _convert_in_slices(convert: Callable[[str], str], text: str) -> str:
    if len(text) <= _OPENCC_SLICE:
        return convert(text)
    parts: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + _OPENCC_SLICE, len(text))
        if end < len(text):
            # Cut after whitespace so a phrase is not split across two conversions.
            cut = max(text.rfind("\n", start, end), text.rfind(" ", start, end))
            if cut > start:
                end = cut + 1
        parts.append(convert(text[start:end]))
        start = end
    return "".join(parts)


def tokens(text: str) -> list[str]:
    """Index tokens of ``text`` in reading order (a token's index + 1 is its position)."""
    out: list[str] = []
    # Script conversion happens per CJK run inside the cached _cjk_tokens: the same
    # result as converting the whole text (every OpenCC rule is CJK-only, so none spans
    # a run boundary), but a repeated run skips both OpenCC and jieba.
    folded = _APOSTROPHE_RE.sub("", _fold(text))
    for match in _RUN_RE.finditer(folded):
        cjk, decimal, word = match.groups()
        if cjk is not None:
            out.extend(_cjk_tokens(cjk))
        elif decimal is not None:
            if _fits(decimal):
                out.append(decimal)
        else:
            token = _word_token(word)
            if token is not None:
                out.append(token)
    return out


def query_tokens(text: str) -> list[str]:
    """Tokens of a search query: same pipeline as :func:`tokens`, de-duplicated, order kept."""
    return list(dict.fromkeys(tokens(text)))


def tsvector_literal(text: str) -> str:
    """A PostgreSQL ``tsvector`` input literal for ``text``, e.g. ``'refund':1,4 'ship':2``.

    Returns ``""`` (the empty tsvector) when ``text`` has no tokens. Positions are capped
    at 16383, at most 256 per lexeme, and only the first 4000 distinct lexemes are kept.
    """
    positions: dict[str, list[int]] = {}
    for index, token in enumerate(tokens(text), start=1):
        kept = positions.get(token)
        if kept is None:
            if len(positions) >= _MAX_LEXEMES:
                continue
            kept = positions[token] = []
        position = min(index, _MAX_POSITION)
        if len(kept) < _MAX_POSITIONS_PER_LEXEME and (not kept or kept[-1] != position):
            kept.append(position)
    return " ".join(f"{_quote(lexeme)}:{','.join(map(str, kept))}" for lexeme, kept in positions.items())


def query_terms(text: str) -> list[str]:
    """The distinct query tokens actually searched for (capped at 256)."""
    return query_tokens(text)[:_MAX_QUERY_TERMS]


def term_tsquery(term: str) -> str:
    """A ``tsquery`` literal matching one term (for document-frequency counts)."""
    return _quote(term)


def tsquery_literal(text: str) -> str | None:
    """A PostgreSQL ``tsquery`` literal OR-ing the query's tokens, or None when it has none."""
    terms = query_terms(text)
    if not terms:
        return None
    return " | ".join(_quote(term) for term in terms)


def _quote(lexeme: str) -> str:
    # tsvector/tsquery input syntax: inside single quotes a quote is doubled and a
    # backslash escapes the next character.
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _fits(token: str) -> bool:
    return len(token) * 4 <= _MAX_LEXEME_BYTES or len(token.encode()) <= _MAX_LEXEME_BYTES


@lru_cache(maxsize=65_536)
def _word_token(word: str) -> str | None:
    """The index form of one Latin/number word, or None when it carries no meaning."""
    if word in _EN_STOPWORDS or not _fits(word):
        return None
    if len(word) == 1 and not word.isdigit():
        return None
    if _ASCII_ALPHA_RE.fullmatch(word):
        return _stem(word)
    return word


def _cjk_tokens(run: str) -> tuple[str, ...]:
    """Tokens of one (case-folded, not yet Simplified) CJK run, cached when short."""
    # Short runs (between punctuation) repeat a lot across passages; long ones rarely
    # do and would make the cache's memory unbounded.
    return _short_cjk_tokens(run) if len(run) <= _CACHED_RUN_LENGTH else _run_tokens(run)


@lru_cache(maxsize=65_536)
def _short_cjk_tokens(run: str) -> tuple[str, ...]:
    return _run_tokens(run)


def _run_tokens(run: str) -> tuple[str, ...]:
    """Tokens of one CJK run: converted to Simplified, then jieba words and bigrams.

    jieba words of 3+ characters are kept alongside the character bigrams. Stopwords
    found by jieba split the run into stretches; bigrams never span a stopword, since
    "的信" or "么还" would match unrelated passages. A stretch of one character is kept
    as that character (a bigram needs two).
    """
    out: list[str] = []
    stretch: list[str] = []
    if HAN_RE.search(run) is not None:
        run = _convert_in_slices(_engines().to_simplified, run)
    for word in (*_segment(run), ""):
        if word and word not in _ZH_STOPWORDS:
            stretch.append(word)
            continue
        if stretch:
            _stretch_tokens(stretch, out)
            stretch = []
    return tuple(out)


def _stretch_tokens(words: list[str], out: list[str]) -> None:
    text = "".join(words)
    if len(text) == 1:
        out.append(text)
        return
    long_words: dict[int, str] = {}
    offset = 0
    for word in words:
        # Two-character words equal the bigram at the same place, so only longer
        # words (信用卡) add anything.
        if len(word) >= 3 and _fits(word):
            long_words[offset] = word
        offset += len(word)
    for i in range(len(text) - 1):
        long_word = long_words.get(i)
        if long_word is not None:
            out.append(long_word)
        bigram = text[i : i + 2]
        if bigram not in _ZH_STOPWORDS:
            out.append(bigram)


def _segment(run: str) -> list[str]:
    """jieba's precise mode without HMM, on a run that is CJK only.

    HMM is off so unseen names do not segment differently by context.
    """
    return _engines().segmenter.cut(run, False)


# --- stemming: Snowball's English stemmer (Porter2, `snowballstemmer`) ---------------
# Inflections and the common derivational suffixes are folded (abbreviations -> abbrevi,
# generally -> general); measured against the light Porter stemmer used before on StackFAQ and
# HINT3 (docs/log/2026-12-07-dependencies.md). A stemmer object keeps its state while it works, so
# each thread has its own.

_stemmers = threading.local()


def _stem(word: str) -> str:
    """The Snowball English stem of one lower-case ASCII word."""
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    return str(stemmer.stemWord(word))
