"""Do replacement libraries give the lexical pipeline the same tokens? Segmenter, OpenCC, stemmer.

Compares, on the project's Chinese and English text and the shared evaluation sets read in place:
- segmentation of every CJK run: jieba 0.42 (precise, no HMM, as `knowledge.lexical` calls it)
  against each candidate that is installed (`rjieba`, `jieba_fast`), per run and per sentence of
  `knowledge.lexical.tokens`;
- Traditional -> Simplified conversion (`hk2s`): `opencc-purepy` against the official `opencc`, on
  Traditional text made from the Chinese sets by `opencc`'s s2hk, s2tw and s2twp (Hong Kong and Taiwan
  characters and phrases), plus the project's own Traditional fixtures;
- stemming: the hand-written light Porter stemmer against Snowball's `english` and `porter`, on the
  distinct words of the English sets.

Only the libraries that are importable are compared (jieba is the reference and must be); install
them anywhere on PYTHONPATH:

    pip install --target /tmp/parity jieba==0.42.1 rjieba jieba-fast opencc opencc-purepy snowballstemmer
    PYTHONPATH=$PWD:/tmp/parity python bench/lexical_parity.py
    PYTHONPATH=$PWD:/tmp/parity python bench/lexical_parity.py --record tests/unit/segmentation_reference.json
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import importlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
HAN = re.compile("[\u3400-\u9fff]")


# --- the text ------------------------------------------------------------------------------------

def project_texts() -> Iterator[str]:
    """The demo knowledge base and every string literal of the tests (their fixtures)."""
    for path in sorted((ROOT / "backend" / "demo_data").iterdir()):
        yield from path.read_text(encoding="utf-8").splitlines()
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield from node.value.splitlines()


def bq_texts(datasets: Path) -> Iterator[str]:
    with (datasets / "bq_corpus_zh" / "dev_pairs.csv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            yield row["sentence1"]
            yield row["sentence2"]


def stc3_texts(datasets: Path) -> Iterator[str]:
    with (datasets / "stc3_helpdesk_satisfaction" / "dialogues_zh.jsonl").open(encoding="utf-8") as file:
        for line in file:
            for turn in json.loads(line)["turns"]:
                yield from turn["utterances"]


def english_texts(datasets: Path) -> Iterator[str]:
    with (datasets / "stackfaq_en" / "faq.csv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            yield row["question"]
            yield row["answer"]
    with (datasets / "stackfaq_en" / "queries_dev.jsonl").open(encoding="utf-8") as file:
        for line in file:
            yield json.loads(line)["query"]
    for path in sorted((datasets / "hint3_en").glob("*.csv")):
        with path.open(encoding="utf-8") as file:
            yield from (row["sentence"] for row in csv.DictReader(file))


def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t for t in texts if t.strip()))


# --- segmentation --------------------------------------------------------------------------------

# Runs the project's text may not contain: kana, Hangul, CJK extension B, iteration marks, Traditional.
EDGE_RUNS = ["ラーメンを食べたい", "한국어고객센터", "𠮷野家的牛丼", "人々时々", "〇〇七号", "臺灣門市營業時間",
             "退貨運費誰付", "我們在野生動物園玩", "信用卡还款日是哪天", "啊啊啊啊帮帮我刷机之后一直重启这个界面"]


def jieba_segment() -> Callable[[str], list[str]]:
    """The reference: jieba 0.42's precise mode without HMM, as `knowledge.lexical` called it until
    2026-12 (DAG and route directly, skipping jieba's own regex split of a run that is CJK only)."""
    jieba = importlib.import_module("jieba")
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()

    def segment(run: str) -> list[str]:
        route: dict[int, tuple[float, int]] = {}
        tokenizer.calc(run, tokenizer.get_DAG(run), route)
        words, i = [], 0
        while i < len(run):
            words.append(run[i : route[i][1] + 1])
            i = route[i][1] + 1
        return words

    return segment


def _candidates() -> dict[str, Callable[[str], list[str]]]:
    from knowledge import lexical

    found: dict[str, Callable[[str], list[str]]] = {"knowledge.lexical": lexical._segment}
    try:
        rjieba = importlib.import_module("rjieba").Jieba()
        found["rjieba"] = lambda run: list(rjieba.cut(run, False))
    except ImportError:
        pass
    try:
        tokenizer = importlib.import_module("jieba_fast").Tokenizer()
        tokenizer.initialize()
        found["jieba_fast"] = lambda run: list(tokenizer.cut(run, HMM=False))
    except ImportError:
        pass
    return found


def cjk_runs(texts: Iterable[str], simplified: bool = True) -> list[str]:
    """The distinct CJK runs `knowledge.lexical` segments (after its Traditional -> Simplified step)."""
    from knowledge import lexical

    runs = (m.group(1) for t in texts for m in lexical._RUN_RE.finditer(lexical._fold(t)) if m.group(1))
    return list(dict.fromkeys(lexical._engines().to_simplified(r) if simplified else r for r in runs))


def digest(runs: Iterable[str], segment: Callable[[str], list[str]]) -> str:
    """One checksum of the segmentation of `runs` (sorted), to check a data set we may not copy."""
    return hashlib.sha256("\n".join(f"{r}\t{'/'.join(segment(r))}" for r in sorted(runs)).encode()).hexdigest()


def segmentation(name: str, texts: list[str]) -> None:
    from knowledge import lexical

    reference = jieba_segment()
    runs = cjk_runs(texts)
    words = sum(len(reference(run)) for run in runs)
    production = lexical._segment
    for candidate, segment in _candidates().items():
        differing = [run for run in runs if segment(run) != reference(run)]
        lexical._segment = reference
        lexical._short_cjk_tokens.cache_clear()
        expected = [lexical.tokens(text) for text in texts]
        lexical._segment = segment
        lexical._short_cjk_tokens.cache_clear()
        try:
            same_tokens = sum(lexical.tokens(text) == want for text, want in zip(texts, expected, strict=True))
        finally:
            lexical._segment = production
            lexical._short_cjk_tokens.cache_clear()
        print(f"segment {name:<22} {candidate:<17} runs {len(runs) - len(differing)}/{len(runs)} identical "
              f"({words} jieba words)  sentences' tokens {same_tokens}/{len(texts)} identical", flush=True)
        for run in differing[:3]:
            print(f"    {run}: jieba {'/'.join(reference(run))}  {candidate} {'/'.join(segment(run))}")


def record(chinese: dict[str, list[str]], path: Path) -> None:
    """Write jieba's segmentation of the project's runs, and checksums of the data sets', for the
    parity test (tests/unit/test_segmentation_parity.py), which runs without jieba."""
    reference = jieba_segment()
    runs = cjk_runs(chinese.pop("project (demo, tests)"), simplified=False) + EDGE_RUNS
    reference_data = {
        "segmenter": "jieba 0.42.1, precise mode, no HMM",
        "runs": {run: "/".join(reference(run)) for run in dict.fromkeys(runs)},
        "datasets": {name: {"runs": len(found := cjk_runs(texts, simplified=False)),
                            "sha256": digest(found, reference)} for name, texts in chinese.items()},
    }
    path.write_text(json.dumps(reference_data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"recorded {len(reference_data['runs'])} runs and {len(chinese)} data set checksums in {path}")


# --- Traditional -> Simplified -------------------------------------------------------------------

def conversion(name: str, texts: list[str]) -> None:
    try:
        opencc = importlib.import_module("opencc")
        purepy = importlib.import_module("opencc_purepy")
    except ImportError as exc:
        print(f"convert: skipped ({exc})")
        return
    official = opencc.OpenCC("hk2s")
    pure = purepy.OpenCC("hk2s")
    han = [t for t in texts if HAN.search(t)]
    for variant in ("s2hk", "s2tw", "s2twp", None):
        to_traditional = opencc.OpenCC(variant) if variant else None
        traditional = han if to_traditional is None else [to_traditional.convert(t) for t in han]
        changed = sum(t != s for t, s in zip(traditional, han, strict=True))
        differing = [t for t in traditional if official.convert(t) != pure.hk2s(t)]
        label = f"{name} {variant or 'as is'}"
        print(f"convert {label:<28} hk2s identical {len(traditional) - len(differing)}/{len(traditional)} "
              f"({changed} differ from the source)", flush=True)
        for text in differing[:3]:
            print(f"    {text[:40]}: purepy {pure.hk2s(text)[:40]}  opencc {official.convert(text)[:40]}")


# --- stemming ------------------------------------------------------------------------------------

def stemming(name: str, texts: list[str]) -> None:
    from knowledge import lexical

    try:
        snowball = importlib.import_module("snowballstemmer")
    except ImportError as exc:
        print(f"stem: skipped ({exc})")
        return
    words = sorted({w for t in texts for w in lexical._ASCII_ALPHA_RE.findall(lexical._fold(t))
                    if len(w) > 1 and w not in lexical._EN_STOPWORDS})
    ours = {w: lexical._stem(w) for w in words}
    for algorithm in ("english", "porter"):
        stemmer = snowball.stemmer(algorithm)
        theirs = dict(zip(words, stemmer.stemWords(words), strict=True))
        same = sum(ours[w] == theirs[w] for w in words)
        # What a stemmer is for: which words it makes one. Pairs of words merged by one and not the other.
        print(f"stem {name:<14} {algorithm:<8} stems identical {same}/{len(words)} words; distinct stems "
              f"ours {len(set(ours.values()))} snowball {len(set(theirs.values()))}", flush=True)
        shown = [w for w in words if ours[w] != theirs[w]][:6]
        print("    " + "  ".join(f"{w}: {ours[w]}|{theirs[w]}" for w in shown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--only", choices=["segment", "convert", "stem"])
    parser.add_argument("--record", type=Path, metavar="JSON",
                        help="write jieba's segmentation for the parity test there, and stop")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    chinese = {
        "project (demo, tests)": _unique(t for t in project_texts() if HAN.search(t)),
        "bq_corpus_zh": _unique(bq_texts(args.datasets)),
        "stc3 dialogues_zh": _unique(stc3_texts(args.datasets)),
    }
    if args.record:
        record(chinese, args.record)
        return
    if args.only in (None, "segment"):
        for name, texts in chinese.items():
            segmentation(name, texts)
    if args.only in (None, "convert"):
        for name, texts in chinese.items():
            conversion(name, texts)
    if args.only in (None, "stem"):
        stemming("project", _unique(project_texts()))
        stemming("stackfaq+hint3", _unique(english_texts(args.datasets)))


if __name__ == "__main__":
    main()
