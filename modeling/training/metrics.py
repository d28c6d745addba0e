"""Classification metrics as an ``evaluate.Metric``: per-class and averaged scores + confusion matrix.

The metric lives in the package because ``evaluate.load("accuracy")`` fetches scripts from the Hub
and fails offline. Instantiate it directly (``compute_classification_metrics`` does) or load it by
absolute path: ``evaluate.load("/abs/path/to/modeling/metrics.py")``. For that loader the file must
stay self-contained (no imports from this package) and ``ClassificationReport`` must be the first
``evaluate.Metric`` subclass in it, since ``evaluate`` picks the first one it finds.

The numbers match scikit-learn's ``classification_report(..., labels=range(num_labels),
zero_division=0)`` and ``confusion_matrix`` exactly; scikit-learn is only a test dependency.
"""

import datasets
import evaluate  # not `from evaluate import Metric`: evaluate.load would pick that class instead
import numpy as np

_DESCRIPTION = """Accuracy, per-class precision/recall/F1/support, their macro and weighted averages,
and the confusion matrix (rows = true label, columns = predicted label). Division by zero gives 0.0."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted label ids.
    references (`list` of `int`): true label ids.
    label_names (`list` of `str`, optional): one name per label id; defaults to "0", "1", ...
    num_labels (`int`, optional): defaults to `len(label_names)`, else the largest id seen + 1.
Returns:
    dict with `accuracy`, `macro_*` and `weighted_*` precision/recall/f1, `per_class`,
    `confusion_matrix`, `label_names` and `num_examples`, all JSON-serializable.
"""


def _safe_divide(numerator, denominator):
    """Element-wise division that gives 0.0 where the denominator is 0 (sklearn's zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _resolve_labels(predictions, references, label_names, num_labels):
    """Return ``(num_labels, label_names)`` after checking they agree with each other and the ids."""
    if num_labels is None:
        if label_names is not None:
            num_labels = len(label_names)
        else:
            seen = np.concatenate([predictions, references])
            num_labels = int(seen.max()) + 1 if seen.size else 0
    if label_names is None:
        label_names = [str(i) for i in range(num_labels)]
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_labels:
        raise ValueError(f"Got {len(label_names)} label_names for num_labels={num_labels}.")
    for kind, ids in (("predictions", predictions), ("references", references)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
            raise ValueError(f"{kind} hold ids outside [0, {num_labels}): min={ids.min()}, max={ids.max()}.")
    return num_labels, label_names


def _confusion_matrix(predictions, references, num_labels):
    """Count matrix with rows = true label and columns = predicted label (sklearn's orientation)."""
    flat = references * num_labels + predictions
    return np.bincount(flat, minlength=num_labels * num_labels).reshape(num_labels, num_labels)


def _scores_from_confusion(cm):
    """Per-class precision, recall, F1 and support from a confusion matrix."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_divide(tp, predicted)
    recall = _safe_divide(tp, support)
    # sklearn computes F1 from counts, 2tp / (2tp + fp + fn), not from P and R: same value, same bits.
    f1 = _safe_divide(2 * tp, 2 * tp + (predicted - tp) + (support - tp))
    return precision, recall, f1, support


class ClassificationReport(evaluate.Metric):
    __doc__ = ("Accuracy, per-class and averaged precision/recall/F1, and the confusion matrix.\n\n"
               + _DESCRIPTION + _KWARGS_DESCRIPTION)

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, label_names=None, num_labels=None):
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        num_labels, label_names = _resolve_labels(predictions, references, label_names, num_labels)
        cm = _confusion_matrix(predictions, references, num_labels)
        precision, recall, f1, support = _scores_from_confusion(cm)
        total = int(support.sum())
        # np.average raises on all-zero weights; sklearn then reports 0.0 (zero_division=0).
        weights = support if total else None
        results = {"accuracy": float(_safe_divide(np.trace(cm), total))}
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            results[f"macro_{name}"] = float(np.mean(values)) if num_labels else 0.0
            results[f"weighted_{name}"] = float(np.average(values, weights=weights)) if total else 0.0
        results["per_class"] = {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(label_names)
        }
        results["confusion_matrix"] = cm.astype(int).tolist()
        results["label_names"] = label_names
        results["num_examples"] = total
        return results


def compute_classification_metrics(predictions, references, label_names=None):
    """Compute the ``ClassificationReport`` metric offline.

    Args:
        predictions: Predicted label ids.
        references: True label ids.
        label_names: One name per label id; all of them are reported, even if never seen.

    Returns:
        The metric's JSON-serializable result dict.
    """
    # keep_in_memory: no Arrow cache files under ~/.cache/huggingface/metrics for a one-shot compute.
    metric = ClassificationReport(keep_in_memory=True)
    predictions = [int(p) for p in predictions]
    references = [int(r) for r in references]
    return metric.compute(predictions=predictions, references=references, label_names=label_names)


def format_classification_report(results, digits=4):
    """Render results as sklearn's ``classification_report`` text plus a confusion-matrix table.

    Args:
        results: The dict returned by ``ClassificationReport.compute``.
        digits: Decimals for the scores.

    Returns:
        A multi-line string.
    """
    names = results["label_names"]
    headers = ["precision", "recall", "f1-score", "support"]
    # Same widths and format strings as sklearn.metrics.classification_report.
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    report = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    for name in names:
        row = results["per_class"][name]
        scores = (row["precision"], row["recall"], row["f1"], row["support"])
        report += row_fmt.format(name, *scores, width=width, digits=digits)
    total = results["num_examples"]
    report += "\n" + ("{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", results["accuracy"], total, width=width, digits=digits
    )
    for avg in ("macro", "weighted"):
        scores = [results[f"{avg}_{m}"] for m in ("precision", "recall", "f1")]
        report += row_fmt.format(f"{avg} avg", *scores, total, width=width, digits=digits)
    return report + "\n" + _format_confusion_matrix(results["confusion_matrix"], names)


def _format_confusion_matrix(cm, names):
    """Text table of counts with label names as row (true) and column (predicted) headers."""
    corner = "true \\ pred"
    row_width = max([len(corner)] + [len(n) for n in names])
    cell_width = max([len(n) for n in names] + [len(str(c)) for row in cm for c in row]) + 2
    lines = ["Confusion matrix (rows: true label, columns: predicted label)"]
    lines.append(f"{corner:>{row_width}}" + "".join(f"{n:>{cell_width}}" for n in names))
    for name, row in zip(names, cm):
        lines.append(f"{name:>{row_width}}" + "".join(f"{c:>{cell_width}}" for c in row))
    return "\n".join(lines) + "\n"
