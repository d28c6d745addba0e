"""The TF-IDF + LogisticRegression baseline every run reports: fitted on the run's own
train split, scored on the rows the BiLSTM is scored on, and a warning when it wins."""

import json
import logging
import random

import datasets
import pytest

from modeling.data.splits import Splits
from modeling.training import baseline
from modeling.training import train
from tests.conftest import FILLER, write_csv

# Without pretrained vectors: the advice then names them (the default uses them where installed).
TINY = dict(embedding_dim=8, hidden_size=8, dropout=0.0, per_device_train_batch_size=8, per_device_eval_batch_size=16,
            min_frequency=1, pretrained_embeddings="none")


def keyword_rows(n, seed):
    """The label is whichever of two cue words the text holds: trivial for TF-IDF."""
    rng = random.Random(seed)
    return [[label, " ".join(rng.sample(FILLER, 6) + [cue])]
            for label, cue in (("yes", "alpha"), ("no", "omega")) * (n // 2)]


def splits_of(rows_by_split):
    features = datasets.Features({"label": datasets.ClassLabel(names=["no", "yes"]), "text": datasets.Value("string")})
    return Splits({name: datasets.Dataset.from_dict({"label": [r[0] for r in rows], "text": [r[1] for r in rows]},
                                                    features=features)
                   for name, rows in rows_by_split.items()}, "text", ["no", "yes"])


def test_baseline_scores_the_validation_and_test_rows():
    pytest.importorskip("sklearn")
    data = splits_of({"train": keyword_rows(40, 0), "validation": keyword_rows(10, 1), "test": keyword_rows(12, 2)})
    scores = baseline.baseline_scores(data)
    assert scores["baseline_eval_accuracy"] == 1.0 and scores["baseline_test_accuracy"] == 1.0
    assert 0 < scores["baseline_runtime"] < 60
    flipped = splits_of({"train": keyword_rows(40, 0),
                         "validation": [["no" if label == "yes" else "yes", text] for label, text in keyword_rows(10, 1)]})
    assert baseline.baseline_scores(flipped)["baseline_eval_accuracy"] == 0.0  # scored against the labels given
    assert "baseline_test_accuracy" not in baseline.baseline_scores(flipped)


def test_a_train_split_without_repeated_words_gets_no_baseline(caplog):
    pytest.importorskip("sklearn")
    data = splits_of({"train": [["yes", "alpha"], ["no", "omega"]], "validation": [["yes", "beta"]]})
    with caplog.at_level(logging.WARNING):
        assert baseline.baseline_scores(data) == {}
    assert "No baseline: the TF-IDF word 1-2-grams + LogisticRegression baseline cannot be fitted" in caplog.text


def test_a_baseline_out_of_memory_is_skipped_with_a_warning(monkeypatch, caplog):
    pytest.importorskip("sklearn")

    def no_memory(texts, labels):
        raise MemoryError

    monkeypatch.setattr(baseline, "fit_baseline", no_memory)
    with caplog.at_level(logging.WARNING):
        assert baseline.baseline_scores(splits_of({"train": keyword_rows(10, 0), "validation": keyword_rows(4, 1)})) == {}
    assert "baseline ran out of memory on this train split (--no_baseline skips it)" in caplog.text


@pytest.mark.parametrize("ours, theirs, warns", [(0.80, 0.81, False), (0.80, 0.8101, True), (0.9, 0.5, False)])
def test_the_warning_needs_more_than_a_point(ours, theirs, warns):
    warning = baseline.baseline_warning({"eval_accuracy": ours, "baseline_eval_accuracy": theirs})
    assert (warning is not None) == warns
    assert baseline.baseline_warning({"eval_accuracy": ours}) is None  # no baseline, no warning


@pytest.mark.parametrize("run, advised, not_advised", [
    ({"stop_reason": "early_stopping", "early_stopping_patience": 10, "min_frequency": 3},
     ["--early_stopping_patience 20 (now 10", "--min_frequency 1 or 2 (now 3", "--pretrained_embeddings"], []),
    ({"stop_reason": "max_steps", "max_steps": 50, "min_frequency": 3},
     ["a higher --max_steps than 50"], ["--early_stopping_patience"]),
    ({"stop_reason": "num_train_epochs", "num_train_epochs": 5, "pretrained_embeddings": "glove-6b-50d",
      "min_frequency": 2}, ["a higher --num_train_epochs than 5", "--min_frequency 1 (now 2"],
     ["--pretrained_embeddings", "--early_stopping_patience"]),
    ({"stop_reason": "max_epochs", "min_frequency": 1}, ["--pretrained_embeddings"],
     ["--early_stopping_patience", "--min_frequency", "higher"]),
    ({"stop_reason": "early_stopping", "early_stopping_patience": 5, "model_name_or_path": "outputs/x"},
     ["--early_stopping_patience 10 (now 5"], ["--min_frequency", "--pretrained_embeddings"]),
])
def test_the_advice_fits_the_run(run, advised, not_advised):
    import argparse

    results = {"eval_accuracy": 0.5, "baseline_eval_accuracy": 0.9, "stop_reason": run.pop("stop_reason"),
               "early_stopping_patience": run.pop("early_stopping_patience", 10)}
    options = {"max_steps": None, "num_train_epochs": None, "min_frequency": 3, "pretrained_embeddings": None,
               "model_name_or_path": None, **run}
    warning = baseline.baseline_warning(results, argparse.Namespace(**options))
    for text in advised:
        assert text in warning, text
    for text in not_advised:
        assert text not in warning, text


def test_a_run_where_the_baseline_wins_warns(tmp_path, caplog):
    pytest.importorskip("sklearn")
    files = {name: write_csv(tmp_path / f"{name}.csv", ["label", "text"], keyword_rows(n, seed))
             for name, n, seed in (("train", 64, 0), ("valid", 16, 1), ("test", 16, 2))}
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO):  # one step at a tiny learning rate: the BiLSTM has learnt nothing
        results = train(files["train"], files["valid"], files["test"], output_dir=str(out), max_steps=1,
                        learning_rate=1e-6, **TINY)
    assert results["baseline_eval_accuracy"] == 1.0 and results["baseline_test_accuracy"] == 1.0
    assert results["eval_accuracy"] <= 0.75
    saved = json.loads((out / "all_results.json").read_text())
    assert saved["baseline_eval_accuracy"] == 1.0 and saved["baseline_runtime"] == results["baseline_runtime"]
    assert "  baseline_test_accuracy = 1.0" in caplog.text  # among the final log lines
    assert "Baseline (TF-IDF + LogisticRegression, same train split): baseline_eval_accuracy 1.0000" in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "baseline beats" in r.getMessage()]
    assert len(warnings) == 1
    points = 100 * (1.0 - results["eval_accuracy"])
    assert f"baseline beats this BiLSTM by {points:.1f} points of validation accuracy" in warnings[0]
    # The run was cut by --max_steps 1: the advice is a higher limit, not more early-stopping patience.
    assert "a higher --max_steps than 1, or none" in warnings[0] and "--early_stopping_patience" not in warnings[0]
    assert "--pretrained_embeddings" in warnings[0]

    from modeling.hub import render_model_card

    card = str(render_model_card(out))
    assert "fitted on the same training\nsplit, scores test accuracy 1.0000 and validation accuracy 1.0000." in card


def test_no_baseline_and_no_scikit_learn_skip_it(tmp_path, caplog, monkeypatch):
    path = write_csv(tmp_path / "train.csv", ["label", "text"], keyword_rows(40, 0))
    results = train(path, output_dir=str(tmp_path / "a"), max_steps=1, no_baseline=True, **TINY)
    assert not [key for key in results if key.startswith("baseline")]
    monkeypatch.setattr(baseline, "sklearn_available", lambda: False)
    with caplog.at_level(logging.INFO):
        results = train(path, output_dir=str(tmp_path / "b"), max_steps=1, **TINY)
    assert not [key for key in results if key.startswith("baseline")]
    assert "No baseline: scikit-learn is not installed" in caplog.text
