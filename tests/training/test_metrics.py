"""Tests for modeling.training.metrics (vs scikit-learn and hand-computed numbers) and modeling.training.plots."""

import json
import sys
from pathlib import Path

import evaluate
import numpy as np
import pytest

from modeling.training.metrics import (
    ClassificationReport,
    compute_classification_metrics,
    format_classification_report,
)
from modeling.training.plots import plot_confusion_matrix, plot_loss_curve

METRICS_FILE = Path(__file__).resolve().parents[2] / "modeling" / "training" / "metrics.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def metrics_cache_in_tmp(tmp_path_factory, monkeypatch):
    """Keep evaluate's cache folders (created even with keep_in_memory) out of the home folder."""
    cache = tmp_path_factory.mktemp("metrics_cache")
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", str(cache))


def _random_case(num_labels, n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, num_labels, n).tolist(), rng.integers(0, num_labels, n).tolist()


SKLEARN_CASES = {
    "binary": ([0, 1, 1, 0, 1, 1, 0, 0, 1, 1], [0, 1, 0, 0, 1, 1, 1, 0, 1, 0], ["REAL", "FAKE"]),
    "three_class": (*_random_case(3, 97, seed=0), ["neg", "neu", "pos"]),
    "class_never_predicted": ([0, 1, 2, 2, 1], [0, 0, 2, 2, 0], ["a", "b", "c"]),
    "class_absent_everywhere": ([0, 1, 1, 0], [0, 1, 0, 0], ["a", "b", "unused"]),
}


@pytest.mark.parametrize("case", SKLEARN_CASES.keys())
def test_matches_sklearn(case):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    preds, refs, names = SKLEARN_CASES[case]
    labels = list(range(len(names)))
    results = compute_classification_metrics(preds, refs, names)
    expected = sklearn_metrics.classification_report(
        refs, preds, labels=labels, target_names=names, zero_division=0, output_dict=True
    )
    for name in names:
        got = results["per_class"][name]
        want = expected[name]
        assert (got["precision"], got["recall"], got["f1"]) == (
            want["precision"],
            want["recall"],
            want["f1-score"],
        )
        assert got["support"] == want["support"]
    for avg in ("macro", "weighted"):
        want = expected[f"{avg} avg"]
        got = tuple(results[f"{avg}_{m}"] for m in ("precision", "recall", "f1"))
        assert got == pytest.approx((want["precision"], want["recall"], want["f1-score"]), rel=1e-12)
    assert results["accuracy"] == sklearn_metrics.accuracy_score(refs, preds)
    want_cm = sklearn_metrics.confusion_matrix(refs, preds, labels=labels).tolist()
    assert results["confusion_matrix"] == want_cm
    assert results["num_examples"] == len(refs)


@pytest.mark.parametrize("case", SKLEARN_CASES.keys())
def test_report_text_matches_sklearn(case):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    preds, refs, names = SKLEARN_CASES[case]
    results = compute_classification_metrics(preds, refs, names)
    expected = sklearn_metrics.classification_report(
        refs, preds, labels=list(range(len(names))), target_names=names, zero_division=0, digits=4
    )
    assert format_classification_report(results).startswith(expected)


def test_hand_computed_three_class():
    # true 0: predicted 0, 1 | true 1: predicted 1, 1, 0 | true 2: predicted 2
    refs = [0, 0, 1, 1, 1, 2]
    preds = [0, 1, 1, 1, 0, 2]
    results = compute_classification_metrics(preds, refs, ["x", "y", "z"])
    assert results["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    assert results["accuracy"] == pytest.approx(4 / 6)
    assert results["per_class"]["x"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert results["per_class"]["y"]["precision"] == pytest.approx(2 / 3)
    assert results["per_class"]["y"]["recall"] == pytest.approx(2 / 3)
    assert results["per_class"]["z"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert results["macro_precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert results["weighted_recall"] == pytest.approx((2 * 0.5 + 3 * 2 / 3 + 1 * 1) / 6)
    assert results["label_names"] == ["x", "y", "z"]
    assert results["num_examples"] == 6


def test_zero_division_gives_zero():
    # Class 1 is never predicted: its precision is 0/0, which must read 0.0 and not NaN.
    results = compute_classification_metrics([0, 0, 0, 0], [0, 1, 1, 0], ["a", "b"])
    assert results["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert results["per_class"]["a"]["precision"] == 0.5
    assert results["macro_precision"] == 0.25
    assert results["macro_f1"] == pytest.approx((2 / 3) / 2)
    assert not any(np.isnan(v) for k, v in results.items() if k.startswith(("macro", "weighted")))


def test_confusion_matrix_rows_are_true_labels():
    # Every true 0 predicted as 1: the count goes to row 0 (true), column 1 (predicted).
    results = compute_classification_metrics([1, 1, 1], [0, 0, 0], ["neg", "pos"])
    assert results["confusion_matrix"] == [[0, 3], [0, 0]]
    assert results["per_class"]["neg"]["support"] == 3
    assert results["per_class"]["pos"]["support"] == 0


def test_defaults_and_json_serializable():
    metric = ClassificationReport(keep_in_memory=True)
    results = metric.compute(predictions=np.array([0, 2, 1]), references=np.array([0, 2, 2]))
    assert results["label_names"] == ["0", "1", "2"]
    assert len(results["confusion_matrix"]) == 3
    assert json.loads(json.dumps(results)) == results
    with_num_labels = metric.compute(predictions=[0, 1], references=[0, 1], num_labels=4)
    assert with_num_labels["label_names"] == ["0", "1", "2", "3"]
    assert with_num_labels["macro_recall"] == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [{"label_names": ["a", "b"]}, {"num_labels": 2}, {"label_names": ["a"], "num_labels": 3}],
)
def test_rejects_inconsistent_labels(kwargs):
    metric = ClassificationReport(keep_in_memory=True)
    with pytest.raises(ValueError):
        metric.compute(predictions=[0, 2], references=[0, 1], **kwargs)


def test_batches_accumulate():
    metric = ClassificationReport(keep_in_memory=True)
    metric.add_batch(predictions=[0, 1], references=[0, 0])
    metric.add_batch(predictions=[1], references=[1])
    results = metric.compute(label_names=["a", "b"])
    assert results["confusion_matrix"] == [[1, 1], [0, 1]]


def test_evaluate_load_by_path(tmp_path, monkeypatch):
    # evaluate copies the script into HF_MODULES_CACHE (read once into evaluate.config at import,
    # hence the attribute patch) and appends that folder to sys.path; undo both afterwards.
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path / "modules")
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m.split(".")[0] == "evaluate_modules"]:
        monkeypatch.delitem(sys.modules, name)
    metric = evaluate.load(str(METRICS_FILE), keep_in_memory=True)
    assert type(metric).__name__ == "ClassificationReport"
    assert (tmp_path / "modules" / "evaluate_modules").is_dir()
    results = metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], label_names=["n", "p"])
    assert results["accuracy"] == pytest.approx(2 / 3)
    assert results["confusion_matrix"] == [[1, 1], [0, 1]]


def test_format_report_contains_names_and_accuracy():
    results = compute_classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], ["REAL", "FAKE"])
    text = format_classification_report(results)
    assert "REAL" in text and "FAKE" in text
    assert "accuracy" in text and "0.7500" in text
    assert "true \\ pred" in text
    table = text.split("true \\ pred")[1].splitlines()
    assert table[1].split() == ["REAL", "2", "1"]
    assert table[2].split() == ["FAKE", "0", "1"]


def _assert_png_only(folder, expected_names):
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected_names)
    for name in expected_names:
        data = (folder / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 1000


def test_plot_loss_curve_writes_png(tmp_path):
    path = tmp_path / "plots" / "loss.png"
    steps = list(range(0, 100, 10))
    plot_loss_curve(steps, [1 / (s + 1) for s in steps], [20, 40, 60], [0.5, 0.3, 0.4], path)
    _assert_png_only(path.parent, ["loss.png"])
    # Overwriting goes through the same atomic rename and leaves no temp files either.
    plot_loss_curve(steps, [0.1] * len(steps), [], [], path, title="no validation")
    _assert_png_only(path.parent, ["loss.png"])


def test_plot_loss_curve_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError):
        plot_loss_curve([0, 1], [0.5], [], [], tmp_path / "loss.png")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("num_labels", [2, 6])
def test_plot_confusion_matrix_writes_png(tmp_path, num_labels):
    names = [f"class_{i}" for i in range(num_labels)]
    cm = np.arange(num_labels * num_labels).reshape(num_labels, num_labels).tolist()
    plot_confusion_matrix(cm, names, tmp_path / "cm.png", title="test")
    _assert_png_only(tmp_path, ["cm.png"])


def test_plot_confusion_matrix_rejects_wrong_shape(tmp_path):
    with pytest.raises(ValueError):
        plot_confusion_matrix([[1, 2], [3, 4]], ["a", "b", "c"], tmp_path / "cm.png")
