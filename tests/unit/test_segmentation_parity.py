"""The segmenter behind the lexical index segments exactly as jieba 0.42 did.

Chunks indexed before the switch from jieba (last release 2020) to rjieba (jieba-rs) keep the tokens
jieba gave them, and queries now go through rjieba: if the two ever segmented a run differently, old
chunks would stop matching new queries until reindexed. `segmentation_reference.json` holds jieba's
segmentation (precise mode, no HMM) of every CJK run of the demo knowledge base and the tests'
fixtures, plus awkward runs (kana, Hangul, extension B, Traditional), and checksums of its
segmentation of the BQ and STC-3 Chinese sets, which are read in place and not copied here.
Recorded by `bench/lexical_parity.py --record` with jieba installed.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from knowledge import lexical

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((Path(__file__).with_name("segmentation_reference.json")).read_text(encoding="utf-8"))
DATASETS = ROOT.parent / "shared" / "datasets"


def test_every_recorded_run_segments_as_jieba_did() -> None:
    runs = REFERENCE["runs"]
    assert len(runs) > 300
    differing = {run: ("/".join(lexical._segment(run)), words) for run, words in runs.items()
                 if "/".join(lexical._segment(run)) != words}
    assert differing == {}


def _runs(texts: list[str]) -> list[str]:
    found = (m.group(1) for t in texts for m in lexical._RUN_RE.finditer(lexical._fold(t)) if m.group(1))
    return list(dict.fromkeys(found))


def _bq() -> list[str]:
    with (DATASETS / "bq_corpus_zh" / "dev_pairs.csv").open(encoding="utf-8") as file:
        return [s for row in csv.DictReader(file) for s in (row["sentence1"], row["sentence2"]) if s.strip()]


def _stc3() -> list[str]:
    with (DATASETS / "stc3_helpdesk_satisfaction" / "dialogues_zh.jsonl").open(encoding="utf-8") as file:
        return [u for line in file for turn in json.loads(line)["turns"] for u in turn["utterances"] if u.strip()]


@pytest.mark.parametrize(("name", "load"), [("bq_corpus_zh", _bq), ("stc3 dialogues_zh", _stc3)])
def test_the_chinese_evaluation_sets_segment_as_jieba_did(name, load) -> None:
    if not DATASETS.is_dir():
        pytest.skip(f"the shared evaluation sets are not beside the project ({DATASETS})")
    runs = _runs(load())
    expected = REFERENCE["datasets"][name]
    assert len(runs) == expected["runs"], "the data set changed: re-record with bench/lexical_parity.py"
    text = "\n".join(f"{r}\t{'/'.join(lexical._segment(r))}" for r in sorted(runs))
    assert hashlib.sha256(text.encode()).hexdigest() == expected["sha256"], (
        "segmentation differs from jieba's on this set; bench/lexical_parity.py shows where")
