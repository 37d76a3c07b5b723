"""The satisfaction model as a library: learning, storage, drivers, the default model, input checks, the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from analytics import satisfaction
from analytics.satisfaction import SatisfactionModel, default_model, has_enough_labels
from backend.cli import main

FILLER = {
    "en": ["my parcel", "the invoice", "order 123", "the app on my phone", "my account", "the router", "a delivery"],
    "zh": ["我的包裹", "这张发票", "订单123", "手机上的应用", "我的账号", "家里的路由器", "这次配送"],
}
# Outcome words deliberately outside the built-in lexicon, so the text model has to learn them.
OUTCOME = {
    "en": {True: ["brilliant, sorted now", "splendid, all sorted"], False: ["pathetic, still stuck", "hopeless, stuck again"]},
    "zh": {True: ["妥了妥了", "搞定了太好"], False: ["烂透了卡住", "又卡住了烂"]},
}


def dialogue(rng: random.Random, language: str, satisfied: bool) -> list[dict[str, str]]:
    """A customer asks about something, the agent replies, the customer's last words give the outcome."""
    thing = rng.choice(FILLER[language])
    turns = [{"role": "customer", "text": f"{thing} ?"}, {"role": "agent", "text": f"{thing} ... {rng.randint(1, 99)}"}]
    for _ in range(rng.randint(0, 2)):
        turns += [{"role": "customer", "text": rng.choice(FILLER[language])},
                  {"role": "agent", "text": rng.choice(FILLER[language])}]
    turns.append({"role": "customer", "text": rng.choice(OUTCOME[language][satisfied])})
    return turns


def labelled(n: int, language: str, seed: int) -> tuple[list[list[dict[str, str]]], list[bool]]:
    rng = random.Random(seed)
    labels = [i % 2 == 0 for i in range(n)]
    return [dialogue(rng, language, s) for s in labels], labels


@pytest.mark.parametrize("language", ["en", "zh"])
def test_model_ranks_held_out_dialogues_by_their_outcome(language: str) -> None:
    train, train_labels = labelled(80, language, seed=1)
    test, test_labels = labelled(40, language, seed=2)
    scores = satisfaction.fit(train, train_labels).predict_proba(test)
    assert scores.shape == (40,)
    assert roc_auc_score(test_labels, scores) == 1.0
    assert ((scores > 0.5) == np.array(test_labels)).all()


def test_round_trip_through_bytes_gives_identical_predictions_and_drivers() -> None:
    train, labels = labelled(60, "zh", seed=3)
    behaviour = [{"handed_off": float(not s), "fallbacks": i % 3} for i, s in enumerate(labels)]
    model = SatisfactionModel().fit(train, labels, behaviour)
    test, _ = labelled(20, "zh", seed=4)
    test_behaviour = [{"handed_off": i % 2, "fallbacks": 1} for i in range(20)]
    loaded = SatisfactionModel.from_bytes(model.to_bytes())
    assert np.array_equal(loaded.predict_proba(test, test_behaviour), model.predict_proba(test, test_behaviour))
    assert loaded.drivers(15) == model.drivers(15)
    assert (loaded.kind, loaded.n_labels, loaded.trained_at) == ("trained", 60, model.trained_at)


def test_drivers_name_the_learned_words_with_their_direction() -> None:
    train, labels = labelled(80, "en", seed=5)
    drivers = SatisfactionModel().fit(train, labels).drivers(top=15)
    assert len(drivers) == 15
    assert all(set(d) == {"feature", "weight"} for d in drivers)
    weights = [abs(float(d["weight"])) for d in drivers]
    assert weights == sorted(weights, reverse=True)
    learned = [(str(d["feature"]).split("“")[1].rstrip("”"), float(d["weight"])) for d in drivers
               if str(d["feature"]).startswith("last customer message contains")]
    # The n-grams named are pieces of the outcome phrases, with the outcome's sign.
    assert any(w > 0 and any(term in p for p in OUTCOME["en"][True]) for term, w in learned)
    assert any(w < 0 and any(term in p for p in OUTCOME["en"][False]) for term, w in learned)
    assert all(len(term.strip()) >= 3 for term, _ in learned)


def test_behaviour_numbers_are_learned_when_text_says_nothing() -> None:
    rng = random.Random(6)
    dialogues = [[{"role": "customer", "text": rng.choice(FILLER["en"])}, {"role": "agent", "text": "ok"}]
                 for _ in range(60)]
    labels = [i % 2 == 0 for i in range(60)]
    behaviour = [{"handed_off": not s, "mean_latency_ms": 800.0} for s in labels]
    model = SatisfactionModel().fit(dialogues, labels, behaviour)
    handed_off = model.predict_proba(dialogues[:2], [{"handed_off": True}, {"handed_off": False}])
    assert handed_off[0] < 0.5 < handed_off[1]
    top = model.drivers(1)[0]
    assert top["feature"] == "behaviour: handed_off" and float(top["weight"]) < 0


def test_cross_validated_auc_is_high_on_separable_data_and_leaves_the_model_alone() -> None:
    train, labels = labelled(60, "en", seed=7)
    model = SatisfactionModel().fit(train, labels)
    before = model.predict_proba(train)
    assert model.cross_validated_auc(train, labels, folds=3) > 0.95
    assert np.array_equal(model.predict_proba(train), before)


def test_default_model_follows_its_documented_rules() -> None:
    model = default_model()
    thanks = [{"role": "customer", "text": "我的订单呢"}, {"role": "agent", "text": "已发货"},
              {"role": "customer", "text": "好的，谢谢！"}]
    complaint = [{"role": "customer", "text": "Where is my order?"}, {"role": "agent", "text": "Sorry, no idea."},
                 {"role": "customer", "text": "This is useless, I want a refund and I will complain."}]
    neutral = [{"role": "customer", "text": "Opening hours?"}, {"role": "agent", "text": "9 to 5."}]
    p_thanks, p_complaint, p_neutral = model.predict_proba([thanks, complaint, neutral])
    assert p_complaint < 0.5 < p_neutral < p_thanks
    plain, handed, slow = model.predict_proba(
        [neutral] * 3, [{}, {"handed_off": True, "fallbacks": 2}, {"mean_latency_ms": 20000}])
    assert handed < plain and slow < plain
    assert model.kind == "default" and model.n_labels == 0
    assert {"feature": "behaviour: handed_off", "weight": -1.0} in model.drivers(20)
    assert np.array_equal(SatisfactionModel.from_bytes(model.to_bytes()).predict_proba([thanks]),
                          model.predict_proba([thanks]))


def test_module_level_predict_proba_uses_the_default_model_unless_given_one() -> None:
    train, labels = labelled(40, "en", seed=8)
    model = satisfaction.fit(train, labels)
    assert np.array_equal(satisfaction.predict_proba(train[:3]), default_model().predict_proba(train[:3]))
    assert np.array_equal(satisfaction.predict_proba(train[:3], model=model), model.predict_proba(train[:3]))


def test_has_enough_labels_needs_both_outcomes() -> None:
    assert has_enough_labels([True] * 10 + [False] * 10)
    assert not has_enough_labels([True] * 100 + [False] * 9)


@pytest.mark.parametrize(
    ("dialogues", "labels", "behaviour", "message"),
    [
        ([[{"role": "bot", "text": "hi"}]], [True], None, "role must be 'customer' or 'agent'"),
        ([[{"role": "customer", "text": 3}]], [True], None, "text must be a string"),
        ("not a list", [True], None, "dialogues must be a list"),
        ([[{"role": "customer", "text": "hi"}]], [True, False], None, "1 dialogues but 2 labels"),
        ([[{"role": "customer", "text": "hi"}]], ["yes"], None, "label 0 must be True/False"),
        ([[{"role": "customer", "text": "a"}], [{"role": "customer", "text": "b"}]], [True, True], None,
         "both satisfied and dissatisfied"),
        ([[{"role": "customer", "text": "a"}], [{"role": "customer", "text": "b"}]], [True, False],
         [{"turns": "two"}, {}], "'turns' must map a name to a number"),
        ([[{"role": "customer", "text": "a"}], [{"role": "customer", "text": "b"}]], [True, False],
         [{"mean_latency_ms": float("nan")}, {}], "finite number"),
    ],
)
def test_bad_training_input_raises_value_error_saying_what_to_fix(dialogues, labels, behaviour, message) -> None:
    with pytest.raises(ValueError, match=message):
        SatisfactionModel().fit(dialogues, labels, behaviour)


def test_unfitted_model_and_foreign_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        SatisfactionModel().predict_proba([[{"role": "customer", "text": "hi"}]])
    with pytest.raises(ValueError, match="not a stored satisfaction model"):
        SatisfactionModel.from_bytes(b"\x80\x04 definitely not a model")


def write_jsonl(path: Path, dialogues: list, labels: list) -> Path:
    path.write_text("\n".join(json.dumps({"turns": d, "satisfied": s}, ensure_ascii=False)
                              for d, s in zip(dialogues, labels, strict=True)) + "\n", encoding="utf-8")
    return path


def test_cli_prints_roc_auc_of_the_test_file(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", *labelled(60, "zh", seed=9))
    test = write_jsonl(tmp_path / "test.jsonl", *labelled(20, "zh", seed=10))
    result = CliRunner().invoke(main, ["eval", "satisfaction", "--train", str(train), "--test", str(test)])
    assert result.exit_code == 0, result.output
    assert "ROC-AUC  1.0000" in result.output
    as_json = CliRunner().invoke(main, ["eval", "satisfaction", "--train", str(train), "--test", str(test), "--json"])
    assert json.loads(as_json.output) == {"train_dialogues": 60, "train_satisfied": 30, "test_dialogues": 20,
                                          "test_satisfied": 10, "roc_auc": 1.0}


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"turns": []}', 'line 2: expected an object with "turns" and "satisfied"'),
        ('{"turns": [{"role": "user", "text": "hi"}], "satisfied": true}', "line 2: turn 0: role must be"),
        ('{"turns": [], "satisfied": "yes"}', 'line 2: "satisfied" must be true or false'),
    ],
)
def test_cli_names_the_bad_line_of_a_bad_file(tmp_path: Path, second_line: str, message: str) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", *labelled(20, "en", seed=11))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text(encoding="utf-8").splitlines()[0] + "\n" + second_line + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", "satisfaction", "--train", str(bad), "--test", str(good)])
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output


def test_cli_refuses_a_test_file_with_one_outcome(tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", *labelled(20, "en", seed=12))
    dialogues, labels = labelled(10, "en", seed=13)
    test = write_jsonl(tmp_path / "test.jsonl", dialogues, [True] * len(labels))
    result = CliRunner().invoke(main, ["eval", "satisfaction", "--train", str(train), "--test", str(test)])
    assert result.exit_code == 1
    assert "the test file needs both satisfied and dissatisfied dialogues" in result.output


def test_cli_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "satisfaction", "--train", str(tmp_path / "nope.jsonl"),
                                       "--test", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
