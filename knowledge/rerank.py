"""Re-ranking the fused candidates: several phrasings of one answer vote together.

Tenants often store one answer under many questions (an intent with its example phrasings, or FAQ
rows that differ only in wording). One near-duplicate phrasing that happens to sit close to the
query should not beat an answer that several of its phrasings support. So each FAQ hit's score
becomes `(1 - GROUP_SHARE) * own + GROUP_SHARE * mean(best GROUP_SIZE scores of its answer)`
(places a group cannot fill from the candidates count at the weakest candidate's score);
an answer stored once keeps its score unchanged (the mean of one is itself), so ordinary FAQs
with distinct answers rank exactly as before. docs/log/2026-11-26-retrieval-pass-2.md has the measurements.

Then `questions_first` orders the list so each stored question shows up once before any second
answer to it: a question stored with several answers (a forum thread, alternative replies) should
not fill the whole result list and push every other question out of sight
(docs/log/2026-12-05-retrieval-pass-3.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from knowledge.hits import Hit

GROUP_SIZE = 5
GROUP_SHARE = 0.5


def answer_key(hit: Hit) -> str | None:
    """The answer a FAQ hit gives (entries sharing it form one group); None for prose."""
    answer = hit.metadata.get("answer")
    return str(answer) if answer else None


def by_answer_group(hits: list[Hit]) -> list[Hit]:
    """Hits re-scored by their answer group's support, best first."""
    groups: dict[str, list[float]] = defaultdict(list)
    for hit in hits:
        key = answer_key(hit)
        if key is not None:
            groups[key].append(hit.score)
    # A phrasing outside the candidates scored at most the weakest candidate: fill missing places
    # with that floor, so a group is not favoured just because few of its phrasings came back.
    floor = min((hit.score for hit in hits), default=0.0)
    support = {
        key: sum((sorted(scores, reverse=True) + [floor] * GROUP_SIZE)[:GROUP_SIZE]) / GROUP_SIZE
        for key, scores in groups.items()
    }
    rescored = []
    for hit in hits:
        key = answer_key(hit)
        if key is not None and len(groups[key]) > 1:
            hit = replace(hit, score=(1 - GROUP_SHARE) * hit.score + GROUP_SHARE * support[key])
        rescored.append(hit)
    rescored.sort(key=lambda h: (-h.score, h.chunk_id))
    return rescored


def questions_first(hits: list[Hit]) -> list[Hit]:
    """The best hit of each stored question first (in score order), then the further answers."""
    seen: set[str] = set()
    first, later = [], []
    for hit in hits:
        question = hit.metadata.get("question")
        if question is None:
            first.append(hit)
        elif str(question) in seen:
            later.append(hit)
        else:
            seen.add(str(question))
            first.append(hit)
    return first + later
