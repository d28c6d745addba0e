"""Evaluation shared by ``scripts/train.py`` and ``scripts/evaluate_model.py``: one function, one file format.

``eval_results.json`` (read by the Hub model card) holds the :class:`~modeling.training.metrics.ClassificationReport`
result plus the loss, the decision threshold, the name of the evaluated file and ``num_unscored``, the
labelled rows of the file that no score covers (texts under the model's short-text rule)::

    {"test_file": "test.csv", "threshold": 0.5, "loss": 0.21, "accuracy": 0.93,
     "macro_precision": ..., "macro_recall": ..., "macro_f1": ...,
     "weighted_precision": ..., "weighted_recall": ..., "weighted_f1": ...,
     "per_class": {"REAL": {"precision": ..., "recall": ..., "f1": ..., "support": 295}, ...},
     "confusion_matrix": [[...], [...]], "label_names": ["REAL", "FAKE"], "num_examples": 634,
     "num_unscored": 0}
"""

import logging
from pathlib import Path

import torch

from ..config import NON_EMPTY, short_text_reason
from ..data.batching import encode_dataset, make_dataloader
from ..data.cleaning import read_labelled_file
from ..data.labels import renumber_labels
from .metrics import compute_classification_metrics
from ..inference import decide
from .plots import plot_confusion_matrix
from ..source import EVAL_RESULTS_FILE
from ..utils import atomic_write_json

logger = logging.getLogger(__name__)

CONFUSION_MATRIX_FILE = "confusion_matrix.png"
SUMMARY_KEYS = ("loss", "accuracy", "macro_f1", "weighted_f1")


@torch.no_grad()
def evaluate_model(model, dataloader, accelerator=None, threshold=0.5):
    """Loss, accuracy and the full classification report of ``model`` over ``dataloader``.

    Logits and labels are collected with ``accelerator.gather_for_metrics``, so under DDP every
    example counts exactly once (the copies that even out the last batch are dropped). The loss is
    the mean over all examples, computed once on the gathered logits.

    Args:
        model: a :class:`~modeling.BiLSTMForSequenceClassification`, possibly wrapped by ``prepare``.
        dataloader: batches with ``input_ids``, ``attention_mask`` and ``labels``.
        accelerator: the run's ``Accelerator``; ``None`` evaluates in this process only.
        threshold: binary models predict ``label_names[1]`` when its probability is above this.

    Returns:
        ``{"loss", "threshold", **ClassificationReport result}`` (JSON-serializable).
    """
    core = accelerator.unwrap_model(model) if accelerator is not None else model
    was_training = model.training
    model.eval()
    all_logits, all_labels = [], []
    for batch in dataloader:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        labels = batch["labels"]
        if accelerator is not None:
            logits, labels = accelerator.gather_for_metrics((logits, labels))
        all_logits.append(logits.cpu())
        all_labels.append(labels.cpu())
    model.train(was_training)
    if not all_logits:
        raise ValueError("nothing to evaluate: the evaluation data set is empty")
    logits, labels = torch.cat(all_logits), torch.cat(all_labels)
    predictions = decide(core.probabilities(logits), threshold)
    report = compute_classification_metrics(predictions.tolist(), labels.tolist(), core.config.label_names)
    return {"loss": float(core.loss(logits, labels)), "threshold": threshold, **report}


def load_eval_dataset(path, tokenizer, label_names, text_column=None, label_column="label", max_length=200,
                      min_text_chars=NON_EMPTY, file_label_names=None, delimiter=None, column_names=None):
    """Read and clean a labelled file as training does, then encode it with ``tokenizer``.

    Labels must be among ``label_names`` (the model's). ``file_label_names`` (``--label_names``)
    names the file's classes in its own id order, e.g. ``["FAKE", "REAL"]`` for a file with 0=FAKE,
    1=REAL; they must be the model's classes and are mapped onto the model's ids by name. Integer
    labels read as the model's ids without it get a warning. ``column_names`` names the columns of a
    file without a header row. Texts are cut to ``max_length`` words, which keeps every token the
    tokenizer would keep: each word gives at least one token. Rows under ``min_text_chars`` (the
    model's short-text rule) cannot be scored: they are counted.

    Returns:
        (encoded dataset, text column name, number of labelled rows left unscored)
    """
    label_names = list(label_names)
    if file_label_names is not None and sorted(file_label_names) != sorted(label_names):
        raise ValueError(f"--label_names {','.join(file_label_names)} must name the model's classes"
                         f" {label_names} (in the file's id order)")
    ds, text_column, _, stats = read_labelled_file(
        path, text_column=text_column, label_column=label_column, delimiter=delimiter, column_names=column_names,
        first_n_words=max_length, min_text_chars=min_text_chars, label_names=file_label_names or label_names,
        label_names_given="--label_names" if file_label_names else "model (config.json label_names)")
    if stats.labels_as_ids and file_label_names is None:
        logger.warning(f"{path}: column {label_column!r} holds integers, read as the model's ids: "
                       + ", ".join(f"{i} = {name}" for i, name in enumerate(label_names))
                       + ". If the file numbers its classes otherwise, name them with --label_names")
    if file_label_names is not None:
        ds = renumber_labels(ds, file_label_names, label_names)
    if len(ds) == 0:
        raise ValueError(f"{path}: no rows left to evaluate")
    return encode_dataset(ds, tokenizer, text_column), text_column, stats.rows_dropped_short


def record_unscored(results, unscored, min_text_chars, source, log=logger):
    """Add ``num_unscored`` to an :func:`evaluate_model` result; when rows were left out, say so in a
    warning on ``log`` that names ``source`` (the split or file) and the rule. Returns ``results``."""
    results["num_unscored"] = unscored
    if unscored:
        scored = results["num_examples"]
        log.warning(f"{source}: {unscored} of {scored + unscored} labelled rows are not scored: they are"
                       f" {short_text_reason(min_text_chars, plural=True)} (min_text_chars {min_text_chars}), which the model gives no"
                       f" label; the scores cover the other {scored}")
    return results


def label_order_warning(results, margin=0.2):
    """A warning when the predictions agree far better with another order of the file's labels
    (e.g. a test file with 0=FAKE, 1=REAL scored by a REAL=0, FAKE=1 model), else ``None``.

    Each true class is matched with the class most often predicted for it; when that matching is
    a permutation other than the identity whose accuracy beats the actual one by ``margin`` and
    by a factor of two, the labels look swapped rather than the model wrong.
    """
    matrix, names = results["confusion_matrix"], results["label_names"]
    total = sum(map(sum, matrix))
    best = [max(range(len(row)), key=row.__getitem__) for row in matrix]
    if not total or sorted(best) != list(range(len(names))) or best == list(range(len(names))):
        return None
    correct = sum(matrix[i][i] for i in range(len(names)))
    swapped = sum(matrix[i][best[i]] for i in range(len(names)))
    if swapped - correct < margin * total or swapped < 2 * correct:
        return None
    read_as = ", ".join(f"{names[i]} as {names[j]}" for i, j in enumerate(best) if i != j)
    return (f"accuracy {correct / total:.4f} is far below what reading the labels {read_as} gives"
            f" ({swapped / total:.4f}): this file's labels look inverted relative to the model's"
            f" {names}; if the file numbers its classes otherwise, name them with --label_names")


def make_eval_dataloader(encoded, batch_size, pad_token_id=0):
    """Batches in length order (no shuffling) over an encoded, labelled dataset."""
    return make_dataloader(encoded, batch_size, shuffle=False, pad_token_id=pad_token_id)


def save_eval_results(results, output_dir, test_file=None):
    """Write ``eval_results.json`` and ``confusion_matrix.png`` into ``output_dir`` (atomically)."""
    output_dir = Path(output_dir)
    payload = {"test_file": None if test_file is None else str(test_file), **results}
    atomic_write_json(output_dir / EVAL_RESULTS_FILE, payload)
    title = f"Confusion matrix ({test_file})" if test_file else None
    plot_confusion_matrix(results["confusion_matrix"], results["label_names"], output_dir / CONFUSION_MATRIX_FILE,
                          title=title)


def prefixed_summary(results, prefix):
    """``{"<prefix>_loss", "<prefix>_accuracy", "<prefix>_macro_f1", "<prefix>_weighted_f1",
    "<prefix>_samples"}`` from an :func:`evaluate_model` result, for ``all_results.json``, and
    ``"<prefix>_unscored_samples"`` when the result counts its unscored rows (:func:`record_unscored`)."""
    summary = {f"{prefix}_{key}": results[key] for key in SUMMARY_KEYS}
    summary[f"{prefix}_samples"] = results["num_examples"]
    if "num_unscored" in results:
        summary[f"{prefix}_unscored_samples"] = results["num_unscored"]
    return summary
