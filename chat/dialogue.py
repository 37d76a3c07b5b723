"""What a customer's turn is, read from the turn and the conversation, without a model.

A turn is one of: small talk (greeting, thanks, goodbye, acknowledgement), a request for a person,
or a question. The message's embedding (the same query vector retrieval uses, so it costs nothing
extra) is compared with the prototype phrases of `chat.phrasebook`, centred on their mean so that
e5's crowded cosines spread out. Each kind scores the mean of its two nearest prototypes; the best
kind wins by its margin over the `question` kind:

- margin ≥ `SURE_MARGIN`: the turn is that kind, whatever the knowledge says;
- `MAYBE_MARGIN` ≤ margin < `SURE_MARGIN`: it is that kind only if the knowledge base does not
  answer the message on its own and, read with the conversation, finds nothing but the entry
  already answered (the engine checks both confidences), so "能开专票吧" stays a question while
  "thanks thats helpful" after an answer does not repeat it;
- below: a question.

An unsure request for a person is stricter than unsure small talk, since a hand-off is not undone
by the next turn: it counts only when the bot has nothing to offer for the message, read alone or
with the conversation (below the suggestion floor, where it would say "I don't know" and offer a
person anyway): "你让你们销售打我电话吧" is handed over, "no i mean to buy them, not monthly" after
an answer stays a follow-up.

Questions are then retrieved with several query variants (`chat.followups`).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import numpy as np

from chat.phrasebook import KINDS
from core.settings import get_settings
from knowledge.embedding import get_embedder
from knowledge.retrieval import query_vectors

SMALL_TALK_FORMS = ("greeting", "thanks", "bye", "ack")
SURE_MARGIN = 0.15
MAYBE_MARGIN = 0.08
NEAREST = 2  # a kind scores the mean of its nearest prototypes: one odd phrase does not decide
VERBATIM = 0.9  # with a non-semantic embedder, the similarity that counts as the same phrase

QUESTION = "question"
SMALL_TALK = "small_talk"
HUMAN = "human"


@dataclass(frozen=True)
class Reading:
    """What a turn looks like: `kind` (question, small_talk, human), its `form` and how sure."""

    kind: str
    form: str = ""
    margin: float = 0.0

    @property
    def sure(self) -> bool:
        return self.kind != QUESTION and self.margin >= SURE_MARGIN

    @property
    def maybe(self) -> bool:
        return self.kind != QUESTION and not self.sure


@dataclass(frozen=True)
class _Prototypes:
    centre: np.ndarray
    vectors: np.ndarray  # centred, normalised, one row per phrase
    kinds: np.ndarray  # the kind of each row
    raw: np.ndarray  # as embedded
    semantic: bool  # False for the test-only token-hash embedder: only near-verbatim phrases count

    @classmethod
    def build(cls) -> _Prototypes:
        kinds, phrases = [], []
        for kind, listed in KINDS.items():
            kinds += [kind] * len(listed)
            phrases += listed
        embedder = get_embedder()
        raw = np.asarray(embedder.embed_queries(phrases), dtype=np.float32)
        centre = raw.mean(axis=0)
        return cls(centre, _centred(raw, centre), np.array(kinds), raw, getattr(embedder, "semantic", True))

    def verbatim(self, vector: np.ndarray) -> str | None:
        """The kind of a prototype the message all but repeats, if any."""
        similarities = self.raw @ vector
        best = int(np.argmax(similarities))
        return str(self.kinds[best]) if similarities[best] >= VERBATIM else None

    def scores(self, vector: np.ndarray) -> dict[str, float]:
        similarities = self.vectors @ _centred(vector[None, :], self.centre)[0]
        return {kind: float(np.sort(similarities[self.kinds == kind])[-NEAREST:].mean()) for kind in KINDS}


def _centred(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
    shifted = vectors - centre
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return shifted / norms


_built: dict[str, _Prototypes] = {}
_build_lock = threading.Lock()


def prototypes() -> _Prototypes:
    """The prototypes embedded with the configured embedder (once per process and embedder)."""
    name = get_settings().embedder
    with _build_lock:
        if name not in _built:
            _built[name] = _Prototypes.build()
        return _built[name]


def read_vector(vector: np.ndarray) -> Reading:
    """The reading of a message from its query vector."""
    known = prototypes()
    if not known.semantic:
        kind = known.verbatim(vector)
        if kind is None or kind == QUESTION:
            return Reading(QUESTION)
        return Reading(HUMAN, "human", 1.0) if kind == HUMAN else Reading(SMALL_TALK, kind, 1.0)
    scores = known.scores(vector)
    best = max(scores, key=lambda kind: scores[kind])
    if best == QUESTION:
        return Reading(QUESTION)
    margin = scores[best] - scores[QUESTION]
    if margin < MAYBE_MARGIN:
        return Reading(QUESTION, best, margin)
    if best == HUMAN:
        # Unsure, it is a request for a person only if the knowledge would not answer it (the engine
        # checks: `engine.run`), so "no i mean to buy them, not monthly" stays a follow-up.
        return Reading(HUMAN, "human", margin)
    return Reading(SMALL_TALK, best, margin)


async def read(text: str) -> Reading:
    """The reading of a customer's message (its query vector is cached for the retrieval that follows)."""
    if get_settings().embedder not in _built:
        await asyncio.to_thread(prototypes)
    return read_vector(await query_vectors.aget(text))


def read_sync(text: str) -> Reading:
    return read_vector(query_vectors.get(text))
