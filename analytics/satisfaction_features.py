"""What the satisfaction model reads from a conversation: checked input, text views and cues.

A dialogue is a list of ``{"role": "customer" | "agent", "text": str}`` turns. The model
looks at it through a few *text views* (all customer text, all agent text, the last
customer turn, the last agent turn) — on helpdesk data the customer's final words say
more about satisfaction than the whole transcript does — and through a short vector of
*conversation cues*: turn counts, lengths, question and exclamation marks, and hits of a
small hand-written zh/en lexicon of thanks and complaint words. Behaviour numbers that
the platform measures (hand-off, fallbacks, latency…) come in as plain dicts.

Invalid input raises :class:`InvalidSatisfactionData`, which is both a ``ValueError``
(library callers) and a ``core.errors.ValidationFailed`` (API and CLI callers).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from core.errors import ValidationFailed

__all__ = [
    "CUE_NAMES",
    "ROLES",
    "TEXT_VIEWS",
    "InvalidSatisfactionData",
    "check_behaviour",
    "check_dialogues",
    "check_labels",
    "conversation_cues",
    "normalize_text",
    "text_terms",
]

ROLES = ("customer", "agent")
Dialogue = Sequence[Mapping[str, str]]


class InvalidSatisfactionData(ValidationFailed, ValueError):
    """Dialogues, labels or behaviour numbers that the model cannot use; the message says what to fix."""


def normalize_text(text: str) -> str:
    """NFKC (full-width → half-width) and case folding, so 'ＯＫ', 'OK' and 'ok' are one token."""
    return unicodedata.normalize("NFKC", text).casefold()


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# A run of CJK characters (written without spaces), or a Latin/number word.
_TERM_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+(?:'[^\W_{_CJK}]+)?)")


def text_terms(text: str, cjk_ngrams: tuple[int, int] = (1, 3)) -> list[str]:
    """Terms for TF-IDF: CJK character n-grams, Latin words and word pairs.

    Characters suit Chinese (no segmenter needed, robust to odd word boundaries); whole words
    suit English and make drivers readable ("stuck", not "tuc").
    """
    low, high = cjk_ngrams
    terms: list[str] = []
    previous_word = ""
    for cjk, word in _TERM_RUN.findall(normalize_text(text)):
        if cjk:
            previous_word = ""
            for size in range(low, high + 1):
                terms.extend(cjk[i : i + size] for i in range(len(cjk) - size + 1))
        else:
            terms.append(word)
            if previous_word:
                terms.append(f"{previous_word} {word}")
            previous_word = word
    return terms


def check_dialogues(dialogues: object) -> list[list[dict[str, str]]]:
    """Return the dialogues as plain lists of turn dicts, or raise with the first problem found."""
    if isinstance(dialogues, (str, bytes)) or not isinstance(dialogues, Sequence):
        raise InvalidSatisfactionData("dialogues must be a list of dialogues (each a list of turns)")
    checked: list[list[dict[str, str]]] = []
    for i, dialogue in enumerate(dialogues):
        if isinstance(dialogue, (str, bytes, Mapping)) or not isinstance(dialogue, Sequence):
            raise InvalidSatisfactionData(
                f"dialogue {i} must be a list of turns like {{'role': 'customer', 'text': '...'}}")
        turns = []
        for j, turn in enumerate(dialogue):
            if not isinstance(turn, Mapping):
                raise InvalidSatisfactionData(f"dialogue {i}, turn {j}: a turn must be a dict with role and text")
            role, text = turn.get("role"), turn.get("text")
            if role not in ROLES:
                raise InvalidSatisfactionData(
                    f"dialogue {i}, turn {j}: role must be 'customer' or 'agent', got {role!r}")
            if not isinstance(text, str):
                raise InvalidSatisfactionData(f"dialogue {i}, turn {j}: text must be a string")
            turns.append({"role": role, "text": text})
        checked.append(turns)
    return checked


def check_labels(labels: object, n: int) -> list[int]:
    """Labels as 0/1 ints (1 = satisfied); booleans or 0/1 numbers only, one per dialogue."""
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__") or not hasattr(labels, "__iter__"):
        raise InvalidSatisfactionData("labels must be a list of booleans (True = satisfied)")
    values = list(labels)  # type: ignore[call-overload]
    if len(values) != n:
        raise InvalidSatisfactionData(f"got {n} dialogues but {len(values)} labels; give one label per dialogue")
    out = []
    for i, value in enumerate(values):
        if value not in (0, 1) or isinstance(value, str):
            raise InvalidSatisfactionData(f"label {i} must be True/False (or 1/0), got {value!r}")
        out.append(int(value))
    return out


def check_behaviour(behaviour: object, n: int) -> list[dict[str, float]]:
    """Behaviour rows as dicts of finite floats (booleans become 0/1); None means no behaviour."""
    if behaviour is None:
        return [{} for _ in range(n)]
    if isinstance(behaviour, (str, bytes, Mapping)) or not isinstance(behaviour, Sequence):
        raise InvalidSatisfactionData("behaviour must be a list of dicts of numbers, one per dialogue")
    if len(behaviour) != n:
        raise InvalidSatisfactionData(f"got {n} dialogues but {len(behaviour)} behaviour rows")
    rows = []
    for i, row in enumerate(behaviour):
        if not isinstance(row, Mapping):
            raise InvalidSatisfactionData(f"behaviour row {i} must be a dict like {{'turns': 4, 'handed_off': False}}")
        clean: dict[str, float] = {}
        for key, value in row.items():
            if value is None:
                continue  # unknown for this conversation: same as absent
            if not isinstance(key, str) or isinstance(value, str) or not isinstance(value, (int, float)):
                raise InvalidSatisfactionData(f"behaviour row {i}: {key!r} must map a name to a number")
            if not math.isfinite(value):
                raise InvalidSatisfactionData(f"behaviour row {i}: {key!r} is {value}, give a finite number")
            clean[key] = float(value)
        rows.append(clean)
    return rows


def _joined(dialogue: Dialogue, role: str) -> str:
    return "\n".join(t["text"] for t in dialogue if t["role"] == role)


def _last(dialogue: Dialogue, role: str) -> str:
    return next((t["text"] for t in reversed(dialogue) if t["role"] == role), "")


# Each view becomes its own TF-IDF block, so "thanks" from the customer and "thanks" from the
# agent are different features (agents thank everyone; customers thank when helped).
TEXT_VIEWS: dict[str, tuple[str, Callable[[Dialogue], str]]] = {
    "customer": ("customer text", lambda d: _joined(d, "customer")),
    "agent": ("agent text", lambda d: _joined(d, "agent")),
    "last_customer": ("last customer message", lambda d: _last(d, "customer")),
    "last_agent": ("last agent message", lambda d: _last(d, "agent")),
}

# A deliberately small lexicon, written for this project (no third-party word lists): words a
# customer uses when pleased or when complaining. Matched on normalised text as substrings.
POSITIVE_WORDS = (
    "谢谢", "多谢", "感谢", "谢了", "好的", "好了", "可以了", "解决了", "满意", "赞", "棒", "辛苦", "给力", "明白了",
    "thank", "thx", "great", "perfect", "awesome", "excellent", "helpful", "appreciate", "works now",
    "that's all", "sounds good", "wonderful",
)
NEGATIVE_WORDS = (
    "投诉", "垃圾", "差评", "太差", "骗", "坑", "无语", "失望", "不满", "生气", "恶心", "还没", "还是不", "到底",
    "没人", "不理", "敷衍", "退款", "赔偿", "举报", "呵呵", "什么破", "为什么", "怎么还",
    "terrible", "awful", "useless", "worst", "angry", "disappoint", "complain", "refund", "ridiculous",
    "still not", "not working", "doesn't work", "wrong", "waste", "not what", "unacceptable",
)
_QUESTION_RE = re.compile(r"[?？]")
_EXCLAIM_RE = re.compile(r"[!！]")


def _hits(text: str, words: Sequence[str]) -> int:
    return sum(text.count(w) for w in words)


CUE_NAMES: dict[str, str] = {
    "turns": "number of turns (log)",
    "customer_turns": "customer turns (log)",
    "customer_chars": "customer text length (log)",
    "agent_chars": "agent text length (log)",
    "ends_with_customer": "customer had the last word",
    "customer_questions": "customer question marks (log)",
    "customer_exclamations": "customer exclamation marks (log)",
    "customer_thanks": "customer thanks/praise words (log)",
    "customer_complaints": "customer complaint words (log)",
    "last_customer_thanks": "last customer message thanks/praises",
    "last_customer_complaint": "last customer message complains",
}


def conversation_cues(dialogue: Dialogue) -> dict[str, float]:
    """Numbers read from the transcript itself (named in ``CUE_NAMES``); counts are log1p-damped."""
    customer = normalize_text(_joined(dialogue, "customer"))
    last = normalize_text(_last(dialogue, "customer"))
    log = math.log1p
    return {
        "turns": log(len(dialogue)),
        "customer_turns": log(sum(t["role"] == "customer" for t in dialogue)),
        "customer_chars": log(len(customer)),
        "agent_chars": log(len(_joined(dialogue, "agent"))),
        "ends_with_customer": float(bool(dialogue) and dialogue[-1]["role"] == "customer"),
        "customer_questions": log(len(_QUESTION_RE.findall(customer))),
        "customer_exclamations": log(len(_EXCLAIM_RE.findall(customer))),
        "customer_thanks": log(_hits(customer, POSITIVE_WORDS)),
        "customer_complaints": log(_hits(customer, NEGATIVE_WORDS)),
        "last_customer_thanks": float(_hits(last, POSITIVE_WORDS) > 0),
        "last_customer_complaint": float(_hits(last, NEGATIVE_WORDS) > 0),
    }
