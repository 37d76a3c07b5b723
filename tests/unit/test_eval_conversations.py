"""bench/eval_conversations.py's scoring: what counts as answered from the right row, small talk, a hand-off."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import eval_conversations as ev

DONT_KNOW = "Sorry, I don't know that. Shall I get a colleague?"


def reply(**body: object) -> ev.Reply:
    base = {"answer": "Delivery takes 2-4 days.", "citations": [], "confidence": 0.8, "handoff": False}
    return ev.reply_from_response(200, {**base, **body}, (DONT_KNOW,))


def cites(*refs: str) -> list[dict[str, object]]:
    return [{"document_id": "d", "chunk_id": i, "source_ref": ref} for i, ref in enumerate(refs)]


FIRST = ev.Turn("d1", 0, "how long does it take", "first", None, ("A-03",))


def test_a_question_passes_only_when_the_first_citation_is_a_gold_row() -> None:
    assert ev.passed(FIRST, reply(citations=cites("A-03", "A-01")))
    assert not ev.passed(FIRST, reply(citations=cites("A-01", "A-03")))  # right row only second
    assert not ev.passed(FIRST, reply(citations=[]))  # an answer without sources is not from the FAQ


def test_a_refusal_with_citations_is_not_an_answer() -> None:
    by_flag = reply(citations=cites("A-03"), suggest_handoff=True)
    by_phrase = reply(answer=DONT_KNOW, citations=cites("A-03"))
    assert by_flag.outcome == by_phrase.outcome == "refused"
    assert not ev.passed(FIRST, by_flag) and not ev.passed(FIRST, by_phrase)


def test_did_you_mean_is_reported_apart_not_counted_as_answered() -> None:
    offered = reply(answer="Did you mean:", suggestions=[{"source_ref": "A-07"}, {"source_ref": "A-03"}])
    assert offered.outcome == "suggested"
    assert not ev.passed(FIRST, offered)
    assert ev.suggested_right(FIRST, offered)
    out_of_scope = ev.Turn("d1", 1, "weather tomorrow?", "out_of_scope", "far")
    assert ev.passed(out_of_scope, offered)


def test_out_of_scope_fails_only_when_answered_from_the_faq() -> None:
    turn = ev.Turn("d1", 1, "can you fix my laptop", "out_of_scope", "near")
    assert not ev.passed(turn, reply(citations=cites("A-09")))
    assert ev.passed(turn, reply(answer=DONT_KNOW))
    assert ev.passed(turn, reply(handoff=True))
    assert not ev.passed(turn, ev.reply_from_response(500, {"detail": "boom"}))


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"answer": "You're welcome!"}, True),
        ({"answer": "You're welcome!", "citations": cites("A-01", "A-02")}, False),  # sources shown
        ({"answer": DONT_KNOW}, False),  # a refusal is not a polite reply to "thanks"
        ({"answer": "Someone will reply shortly.", "handoff": True}, False),
        ({"answer": "  "}, False),
    ],
)
def test_small_talk_is_a_reply_with_no_sources(body: dict[str, object], ok: bool) -> None:
    assert ev.passed(ev.Turn("d1", 2, "thanks", "small_talk", "thanks"), reply(**body)) is ok


def test_a_human_request_passes_on_handoff_only() -> None:
    turn = ev.Turn("d1", 3, "can someone call me back", "human", "indirect")
    assert ev.passed(turn, reply(handoff=True))
    assert not ev.passed(turn, reply(answer=DONT_KNOW, suggest_handoff=True))


def test_a_turn_held_for_a_person_is_counted_apart_not_scored() -> None:
    held = ev.reply_from_response(202, {"status": "with_agent", "conversation_id": "c1", "message_id": "m"})
    assert held.outcome == "with_agent" and held.conversation_id == "c1"
    thanks = ev.Turn("d1", 4, "thanks", "small_talk", "thanks")
    assert not ev.passed(thanks, held)
    queued = ev.reply_from_response(202, {"status": "pending", "message_id": "m"})
    assert queued.outcome == "error"  # any other 202 is not a reply the script can score
    summary = ev.summarise([ev.Scored(thanks, "faq_en", "en", held, False, False)])
    assert summary.kinds["small_talk"].total == 0 and summary.with_agent == {"small_talk": 1}


def test_summary_counts_per_kind_and_follow_ups_after_a_right_answer() -> None:
    follow = ev.Turn("d1", 1, "and the cost?", "follow_up", "topic_switch", ("A-01",))
    thanks = ev.Turn("d1", 2, "ok ta", "small_talk", "thanks")
    scored = [
        ev.Scored(FIRST, "faq_en", "en", reply(citations=cites("A-03")), True, False),
        ev.Scored(follow, "faq_en", "en", reply(citations=cites("A-03")), False, False, quoted="A-03"),
        ev.Scored(thanks, "faq_en", "en", reply(answer=DONT_KNOW), False, False),
    ]
    summary = ev.summarise(scored)
    assert (summary.kinds["first"].passed, summary.kinds["first"].total) == (1, 1)
    assert (summary.kinds["follow_up"].passed, summary.kinds["follow_up"].total) == (0, 1)
    assert (summary.after_right.passed, summary.after_right.total) == (0, 1)
    assert summary.forms["follow_up/topic_switch"].total == 1
    assert summary.quote_mismatch == 0  # the reply quotes the row it cites first
    assert (summary.kinds["small_talk"].passed, summary.no_sources.passed) == (0, 1)  # strict vs loose reading


def test_quoted_row_finds_the_row_whose_answer_the_reply_repeats() -> None:
    rows = {"A-01": "满49元包邮，不满49元收6元运费。", "A-03": "广东省内一般1天，其他省份2-4天。"}
    assert ev.quoted_row("亲，广东省内一般1天，其他省份2-4天。", rows) == "A-03"
    assert ev.quoted_row("您好！请问有什么可以帮您？", rows) is None


def test_both_sets_load_and_every_gold_id_is_a_row_of_its_faq() -> None:
    for name in ("dev", "holdout"):
        conv = ev.load_set(ev.DATA / name)
        turns = [t for d in conv.dialogues for t in d.turns]
        assert len(conv.dialogues) >= 60 and len(turns) >= 140
        assert {t.kind for t in turns} == set(ev.KINDS)
        assert all(len(rows) >= 30 for rows in conv.rows.values())
    fresh = ev.load_set(ev.DATA / "fresh")  # the small unseen set: every kind, both languages
    assert {t.kind for d in fresh.dialogues for t in d.turns} == set(ev.KINDS)
    assert {d.lang for d in fresh.dialogues} == {"zh", "en"}
