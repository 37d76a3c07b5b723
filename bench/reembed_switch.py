"""The re-embed switch's UPDATE with the term-count trigger of migration 0011 and of 0026.

Indexes `--rows` synthetic FAQ chunks with the hash embedder, stages hash:256 vectors for them
(`knowledge.reembed.stage`), then runs the switch's UPDATE under `EXPLAIN ANALYZE` (rolled back)
with each version of `kefu_count_chunk_terms()` in turn, twice, printing the trigger's time and
the statement's.

    python bench/reembed_switch.py --rows 5000
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from harness import REPO, topology
from ingest import faq_csv


def trigger_versions() -> dict[str, str]:
    """The function bodies 0026 writes on downgrade (0011's) and on upgrade."""
    path = REPO / "alembic" / "versions" / "0026_terms_unchanged.py"
    spec = importlib.util.spec_from_file_location("terms_unchanged", Path(path))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    captured: list[str] = []
    module.op = type("Op", (), {"execute": staticmethod(captured.append)})
    module.downgrade()
    module.upgrade()
    return {"0011 (before)": captured[0], "0026 (after)": captured[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000)
    args = parser.parse_args()
    versions = trigger_versions()
    with topology(apis=0, workers=0, embedder="hash") as topo:
        from sqlalchemy import text

        from core.db import owner_engine, tenant_session_sync
        from knowledge import commands, reembed
        from knowledge.embedding import build

        tenant = topo.create_tenant("bench switch").tenant_id
        commands.upload_document(tenant, "faq.csv", faq_csv(args.rows, 7), inline=True)
        target = reembed.parse_target("hash:256")
        with tenant_session_sync(tenant) as session:
            job = reembed.request(session, tenant, target)
        reembed.stage(tenant, job.id, build(target))
        for _ in range(2):
            for name, function in versions.items():
                with owner_engine().begin() as connection:
                    connection.execute(text(function))
                with tenant_session_sync(tenant) as session:
                    embedder = session.scalar(text("SELECT embedder_id FROM reembeds WHERE id = :r"), {"r": job.id})
                    plan = session.execute(text("EXPLAIN (ANALYZE) " + reembed._SWAP.text),
                                           {"e": embedder, "r": job.id, "t": tenant}).scalars().all()
                    session.rollback()
                shown = "; ".join(line.strip() for line in plan if "Trigger chunks" in line or "Execution" in line)
                print(f"{args.rows:,} chunks, {name}: {shown}", flush=True)


if __name__ == "__main__":
    main()
