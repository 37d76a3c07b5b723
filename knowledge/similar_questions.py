"""Similar questions (相似问法): other wordings of one FAQ row's question, matched like the question itself.

An admin lists them on a row (the row editors, the FAQ-row API, or an upload column such as
`similar_questions` / `相似问题`, several separated by `|` or new lines). Indexing stores each wording
as a chunk of its own beside the row's chunk (`expand`): same `source_ref`, same answer, its own
question embedded as a query and its own lexical terms, and `variant_of` naming the row's question.
So a wording is found exactly the way a row's question is (dense, lexical, question overlap).
Retrieval lets a row's wordings vote together like rows sharing an answer, then folds them back
into the row (`fold_into_rows`): the row takes its best wording's place, is listed once, and shows
its own question, so citations, suggestions and answers never see a wording as an entry of its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.errors import ValidationFailed
from knowledge.hits import Hit
from knowledge.parsing.passage import Passage
from knowledge.parsing.wordings import MAX_CHARS, MAX_PER_ROW, from_cell, split, tidy

__all__ = ["MAX_CHARS", "MAX_PER_ROW", "as_row", "checked", "expand", "fold_into_rows", "from_cell", "split", "tidy"]


def checked(phrasings: object, question: str) -> list[str]:
    """An admin's wordings, tidied and within the limits (422 with what to fix otherwise)."""
    if phrasings is not None and not isinstance(phrasings, list | tuple | str):
        raise ValidationFailed("similar_questions must be a list of questions (or text, one per line).")
    kept = tidy(split(phrasings), question)
    too_long = next((p for p in kept if len(p) > MAX_CHARS), None)
    if too_long is not None:
        raise ValidationFailed(
            f"A similar question is {len(too_long)} characters; the limit is {MAX_CHARS}: {too_long[:60]}…"
        )
    if len(kept) > MAX_PER_ROW:
        raise ValidationFailed(f"A row can have at most {MAX_PER_ROW} similar questions; {len(kept)} were given.")
    return kept


# --- indexing -------------------------------------------------------------------------------------


def expand(passages: list[Passage], ordinals: list[int]) -> tuple[list[Passage], list[int]]:
    """Each FAQ row followed by one passage per similar question (at the row's ordinal)."""
    out: list[Passage] = []
    out_ordinals: list[int] = []
    for passage, ordinal in zip(passages, ordinals, strict=True):
        out.append(passage)
        out_ordinals.append(ordinal)
        meta = passage.metadata
        if meta.get("kind") != "faq":
            continue
        question, answer = str(meta.get("question", "")), str(meta.get("answer", ""))
        for phrasing in meta.get("similar_questions") or []:
            variant = {k: v for k, v in meta.items() if k not in ("similar_questions", "edited")}
            variant.update(question=phrasing, variant_of=question)
            out.append(Passage(f"{phrasing}\n{answer}", passage.source_ref, variant))
            out_ordinals.append(ordinal)
    return out, out_ordinals


# --- retrieval ------------------------------------------------------------------------------------


def fold_into_rows(hits: list[Hit], variant_of: dict[int, str]) -> list[Hit]:
    """One hit per FAQ row, in the order given: a row takes the place and score of its best wording
    (its question or a similar question).

    Called on the hits after answer groups have voted (`knowledge.rerank.by_answer_group`), so a
    row's wordings support each other exactly as rows that share an answer do
    (docs/log/2026-12-07-similar-questions.md compares this with a plain maximum).
    `variant_of` maps the chunk ids of similar-question chunks to their row's question. Rows are
    told apart by document, `source_ref`, question and answer, so distinct rows that share an id
    stay apart. The row's own chunk stands for it when it was a candidate; otherwise the wording's
    chunk does, shown with the row's question (`as_row`).
    """
    if not variant_of:
        return hits
    own: dict[tuple[Any, ...], Hit] = {}
    keys: list[tuple[Any, ...] | None] = []
    for hit in hits:
        key = _row_key(hit, variant_of)
        keys.append(key)
        if key is not None and hit.chunk_id not in variant_of:
            own.setdefault(key, hit)
    folded: list[Hit] = []
    seen: set[tuple[Any, ...]] = set()
    for hit, key in zip(hits, keys, strict=True):
        if key is None:
            folded.append(hit)
            continue
        if key in seen:
            continue  # a weaker wording of a row already listed
        seen.add(key)
        row = own.get(key)
        if hit.chunk_id in variant_of:
            matched = str(hit.metadata.get("question", ""))
            if row is not None:
                hit = replace(
                    row,
                    score=hit.score,
                    dense=hit.dense,
                    lexical=hit.lexical,
                    overlap=hit.overlap,
                    centred=hit.centred,
                    metadata={**row.metadata, "matched_question": matched},
                )
            else:
                hit = replace(hit, metadata={**hit.metadata, "question": key[2], "matched_question": matched})
        folded.append(hit)
    return folded


def _row_key(hit: Hit, variant_of: dict[int, str]) -> tuple[Any, ...] | None:
    answer = hit.metadata.get("answer")
    question = variant_of.get(hit.chunk_id) or hit.metadata.get("question")
    if question is None or answer is None:
        return None
    return (hit.document_id, hit.source_ref, str(question), str(answer))


def as_row(hit: Hit) -> Hit:
    """A similar question's chunk shown as its row: the row's question, text and metadata."""
    meta = hit.metadata
    row_question = meta.get("variant_of")
    if not row_question:
        return hit
    matched = meta.get("question")
    shown = {k: v for k, v in meta.items() if k != "variant_of"}
    shown.update(question=row_question, matched_question=matched)
    return replace(hit, text=f"{row_question}\n{meta.get('answer', '')}", metadata=shown)
