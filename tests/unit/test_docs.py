"""The docs stay a map that works: every page or log they point to exists, and every diagram parses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").rglob("*.md"))
CODE_DIRS = ("core", "knowledge", "chat", "analytics", "backend", "dash_app", "bench", "alembic")
DOC_PATH = re.compile(r"\bdocs/[\w./-]+\.md\b")
MD_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MERMAID = re.compile(r"```mermaid\n(.*?)```", re.S)


def _texts() -> list[tuple[Path, str]]:
    files = [*DOCS, ROOT / "README.md", ROOT / "widget" / "README.md"]
    for folder in CODE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [(path, path.read_text(encoding="utf-8")) for path in files]


def test_every_docs_path_named_anywhere_exists() -> None:
    missing = [f"{path.relative_to(ROOT)}: {name}" for path, text in _texts()
               for name in DOC_PATH.findall(text) if not (ROOT / name).is_file()]
    assert not missing, "\n".join(missing)


def test_every_relative_markdown_link_resolves() -> None:
    broken = []
    for path in [*DOCS, ROOT / "README.md"]:
        for target in MD_LINK.findall(path.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)


def test_no_doc_cites_a_design_file_outside_the_repository() -> None:
    citing = [str(path.relative_to(ROOT)) for path, text in _texts() if "ARCHITECTURE.md" in text]
    assert not citing, f"cite docs/architecture.md instead: {citing}"


def test_measurement_logs_are_dated_and_indexed() -> None:
    logs = sorted((ROOT / "docs" / "log").glob("*.md"))
    index = (ROOT / "docs" / "log" / "README.md").read_text(encoding="utf-8")
    undated = [p.name for p in logs if p.name != "README.md" and not re.match(r"\d{4}-\d{2}-\d{2}-[\w-]+\.md$", p.name)]
    unindexed = [p.name for p in logs if p.name != "README.md" and f"({p.name})" not in index]
    assert not undated and not unindexed, (undated, unindexed)


def test_sequence_diagram_lines_hold_no_statement_separator() -> None:
    # Mermaid ends a statement at ';', so a message containing one stops the whole diagram rendering.
    bad = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in DOCS
           for block in MERMAID.findall(path.read_text(encoding="utf-8"))
           for line in block.splitlines() if ";" in line]
    assert not bad, "\n".join(bad)
