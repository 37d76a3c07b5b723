"""Questions in a conversation: which query to retrieve with, chosen by calibrated confidence.

A question later in a conversation may stand alone ("能开发票吗"), continue the topic ("要利息吗",
"how much is it for him") or switch to a new slot in elliptical form ("那运费呢？", "and how long
does it take?"). Instead of guessing from the wording, the engine retrieves with every variant
that could be meant and compares their calibrated confidences:

- `alone`: the message as written;
- `joined`: the conversation's topic (the query that last found an answer) followed by the message;
- `slot`: the topic's context words (those not in the entry it was answered from: "to Hong Kong",
  "成都") with the message: the previous question with the new slot put in;
- `clause`: each clause of a message that has two to four (`clauses`), the best one kept. Customers
  put context and the question in one line ("物流4天没动了 什么情况", "hi, is there a shop i can visit
  in shenzhen?"); the context dilutes the whole message's vector, the question clause alone names
  its entry. Clauses that read as small talk or a request for a person ("你好", "thanks") are
  skipped (`is_question`), and a clause counts only when it reaches the answering threshold on its
  own: a fragment's lead over other weak matches ("8块5一斤") is no evidence. Clauses are tried
  only when the message as written is below that threshold. It applies to first questions too.

The variant with the highest confidence wins, except that a variant whose top entry is a
*different* entry from the one the topic was answered with wins over one that only repeats the
old entry whenever its confidence is within `SWITCH_MARGIN`: the new words named another entry.
When the message opens or closes with a switch cue ("那…", "…呢", "and …", "what about …",
"ok and …": `SWITCH_CUE`), the customer says the slot is new, so any variant naming another entry
wins over the old one as long as it is good enough to be offered (the suggestion floor): the
joined query, dominated by the old question's words, would otherwise find the old entry again
("那货到付款能分期吗" after 花呗 instalments, "ok and a home phone?" after the TV app).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from knowledge.confidence import confidence
from knowledge.hits import Hit

SWITCH_MARGIN = 0.15
# Discourse markers of a new slot in an elliptical follow-up, at the start or the end of the
# message (a few words per language; what they mark is general, not any business's wording).
SWITCH_CUE = re.compile(
    r"^\s*(那|那么|还有|另外|再问一?下)|呢\s*[?？!！。.]*\s*$"
    r"|^\s*((ok|okay|right|and)[,\s]+)?(and|also|what about|how about|plus)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z0-9']+|[\u3400-\u9fff\uf900-\ufaff]+")
# Where a message breaks into clauses: sentence and clause punctuation (not a decimal point or a
# thousands comma), and in Chinese the space customers type between clauses.
_CLAUSE_BREAK = re.compile(
    r"[，。！？；~～…!?;]+|,(?!\d)|\.(?=\s|$)"
    r"|\s+(?=[\u3400-\u9fff])|(?<=[\u3400-\u9fff])\s+"
)
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+")
MAX_CLAUSES = 4  # more clauses than this is a story, not a question with its context; retrieve it whole


@dataclass(frozen=True)
class Topic:
    """What the conversation is about: the query that last found an answer and the entry it found."""

    query: str
    entry: str | None = None  # source_ref of the entry answered (or first suggested)
    entry_question: str = ""  # that entry's question, for the slot variant


@dataclass
class Choice:
    variant: str
    query: str
    hits: list[Hit]
    score: float
    alone_score: float = 0.0
    tried: dict[str, float] = field(default_factory=dict)

    @property
    def entry(self) -> str | None:
        return self.hits[0].source_ref if self.hits else None


def topic_of(turns: list[dict[str, Any]]) -> Topic | None:
    """The conversation's current topic: the last customer question (not small talk or a request for a person)."""
    for index in range(len(turns) - 1, -1, -1):
        turn = turns[index]
        if turn.get("role") != "user" or turn.get("act", "question") != "question":
            continue
        reply = turns[index + 1] if index + 1 < len(turns) else {}
        return Topic(
            str(turn.get("query") or turn.get("content") or ""),
            reply.get("entry"),
            str(reply.get("entry_question") or ""),
        )
    return None


def slot_query(topic: Topic, text: str) -> str | None:
    """The topic's words that are not the old entry's question words, with the new message."""
    if not topic.entry_question:
        return None
    old = _pieces(topic.entry_question)
    kept: list[str] = []
    for word in _WORD.findall(topic.query):
        if word.isascii():
            if word.lower() not in old:
                kept.append(word)
            continue
        # Chinese runs have no spaces: drop every character inside one of the old question's
        # character pairs, keep the rest.
        dropped = [False] * len(word)
        for i in range(len(word) - 1):
            if word[i : i + 2] in old:
                dropped[i] = dropped[i + 1] = True
        rest = "".join(" " if gone else c for c, gone in zip(word, dropped, strict=True))
        kept += [piece for piece in rest.split() if len(piece) >= 2]
    return f"{text} {' '.join(kept)}" if kept else None


def _pieces(text: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(text)}
    return words | {w[i : i + 2] for w in words if not w.isascii() for i in range(len(w) - 1)}


def clauses(text: str) -> list[str]:
    """The clauses of a message that has more than one, each worth retrieving alone (two Han
    characters or two words: "hi," and "🙃" are dropped); empty for a single clause or more than
    `MAX_CLAUSES`."""
    pieces = [p.strip() for p in _CLAUSE_BREAK.split(text) if p and p.strip()]
    kept = [p for p in pieces if len(_HAN.findall(p)) >= 2 or len(_LATIN_WORD.findall(p)) >= 2]
    return kept if len(pieces) >= 2 and 1 <= len(kept) <= MAX_CLAUSES else []


Retriever = Callable[[str], Awaitable[list[Hit]]]
Reader = Callable[[str], Awaitable[bool]]


def switch_cue(text: str) -> bool:
    """Whether the message marks a new slot ("那运费呢？", "and how long does it take?")."""
    return bool(SWITCH_CUE.search(text))


async def choose(text: str, topic: Topic | None, retriever: Retriever, *, alone: list[Hit] | None = None,
                 floor: float = 0.0, is_question: Reader | None = None, threshold: float = 0.5) -> Choice:
    """Retrieve with each query variant and keep the one the confidence and the topic rule prefer.

    `floor`: the lowest confidence the bot still offers as a suggestion; with a switch cue a variant
    naming another entry wins from there up. `is_question`: whether a clause reads as a question
    (without it, no clause variant is tried); a clause counts from `threshold` (the answering one) up."""
    alone_hits = alone if alone is not None else await retriever(text)
    options = [Choice("alone", text, alone_hits, confidence(alone_hits))]
    if is_question is not None and options[0].score < threshold:  # a confident message needs no clause
        best_clause = await _best_clause(text, retriever, is_question)
        if best_clause is not None and best_clause.score >= threshold:
            options.append(best_clause)
    if topic is not None and topic.query and topic.query != text:
        joined = f"{topic.query} {text}"
        hits = await retriever(joined)
        options.append(Choice("joined", joined, hits, confidence(hits)))
        slot = slot_query(topic, text)
        if slot and slot != text:
            hits = await retriever(slot)
            options.append(Choice("slot", slot, hits, confidence(hits)))
    best = max(options, key=lambda o: o.score)
    if topic is not None and topic.entry and best.entry == topic.entry:
        low = max(floor, 1e-9) if switch_cue(text) else best.score - SWITCH_MARGIN
        switched = [o for o in options if o.entry and o.entry != topic.entry and o.score >= low]
        if switched:
            best = max(switched, key=lambda o: o.score)
    best.alone_score = options[0].score
    best.tried = {o.variant: round(o.score, 4) for o in options}
    return best


async def _best_clause(text: str, retriever: Retriever, is_question: Reader) -> Choice | None:
    best: Choice | None = None
    for clause in clauses(text):
        if not await is_question(clause):
            continue
        hits = await retriever(clause)
        option = Choice("clause", clause, hits, confidence(hits))
        if best is None or option.score > best.score:
            best = option
    return best
