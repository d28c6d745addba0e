"""One way in for a training run's data: :func:`load_splits` reads the given files, a
``datasets.load_dataset`` source or ``datasets`` objects — each file once — and cleans every split
with the train split's label names.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import datasets

from ..inference import NON_EMPTY
from .checks import take_first
from .files import DataError, read_dataset, read_table, tables_from_datasets
from .pipeline import prepare_dataset, split_dataset
from .preparation import prepare_splits

logger = logging.getLogger(__name__)


@dataclass
class Splits:
    """A run's cleaned data: ``splits`` (``train``, ``validation`` and maybe ``test``), the text
    column, the class names in id order, the name the test results are reported under, and
    ``unscored``: for the validation and test splits, the labelled rows that the short-text rule
    dropped, which no score covers (0 for a split held out of the train split)."""

    splits: dict
    text_column: str
    label_names: list
    test_name: Optional[str] = None
    unscored: dict = field(default_factory=dict)


def load_splits(train_file=None, validation_file=None, test_file=None, *, dataset_name=None,
                dataset_config_name=None, data=None, text_column=None, label_column="label", first_n_words=200,
                min_text_chars=NON_EMPTY, seed=42, label_names=None, delimiter=None, max_train_samples=None,
                max_eval_samples=None, max_predict_samples=None, column_names=None, validation_split_percentage=10):
    """Read and clean a run's splits.

    Args:
        train_file, validation_file, test_file: data files (``modeling.data.files.read_table``).
        dataset_name, dataset_config_name: instead of files, a ``datasets.load_dataset`` source.
        data: instead of both, ``{"train": datasets.Dataset, ...}``.
        label_names: class names in id order (default: the train split's, or its ``ClassLabel`` names).
        min_text_chars: the short-text rule: rows whose stripped text is shorter are dropped from
            every split (1: only empty texts); those of validation and test count as unscored.
        delimiter, column_names: the files' CSV delimiter, and their column names when they have no
            header row (``modeling.data.files.read_table``).
        max_train_samples, max_eval_samples, max_predict_samples: keep only the first N train /
            validation / test examples.
        validation_split_percentage: without a validation split, the share of the train split held
            out for it (stratified, seeded), in percent.

    Returns:
        :class:`Splits`
    """
    given = "--label_names" if label_names else "train split"
    hint = "use more rows or pass validation data"
    if data:
        tables, declared = tables_from_datasets(data, label_column=label_column)
        test_name = "test split"
    elif dataset_name:
        tables, declared = read_dataset(dataset_name, dataset_config_name, label_column=label_column)
        test_name = f"{dataset_name} (test split)"
    else:
        files = {"train": train_file, "validation": validation_file, "test": test_file}
        tables = {name: read_table(path, required_columns=[label_column], delimiter=delimiter, column_names=column_names)
                  for name, path in files.items() if path is not None}
        declared, hint = None, "use more rows or pass --validation_file"
        test_name = test_file and Path(test_file).name
    if declared and not label_names:
        label_names, given = declared, "ClassLabel names of the train split"
    options = dict(text_column=text_column, label_column=label_column, first_n_words=first_n_words,
                   min_text_chars=min_text_chars)
    train_table = tables.pop("train")
    train, text_column, label_names, _ = prepare_dataset(
        train_table.dataset, **options, label_names=label_names, label_names_given=given,
        source=str(train_table.path), first_row=train_table.first_row)
    options["text_column"] = text_column
    splits, unscored = {"train": train}, {}
    if "validation" not in tables:
        logger.info("no validation split: %d%% of %s is held out for validation", validation_split_percentage,
                    train_table.path)
        share = validation_split_percentage / 100
        splits = dict(split_dataset(train, train_ratio=1 - share, valid_ratio=share, seed=seed,
                                    source=str(train_table.path), hint=hint))
        unscored["validation"] = 0
    for name, table in tables.items():
        splits[name], _, _, stats = prepare_dataset(table.dataset, **options, label_names=label_names,
                                                    label_names_given=given, source=str(table.path),
                                                    first_row=table.first_row)
        unscored[name] = stats.rows_dropped_short
    splits["train"] = take_first(splits["train"], max_train_samples, "train")
    splits["validation"] = take_first(splits["validation"], max_eval_samples, "validation")
    if "test" in splits:
        splits["test"] = take_first(splits["test"], max_predict_samples, "test")
    return Splits(splits, text_column, label_names, test_name if "test" in splits else None, unscored)


def load_demo_splits(path, *, text_column=None, label_column="label", min_text_chars=NON_EMPTY, seed=42,
                     label_names=None, max_train_samples=None, max_eval_samples=None, max_predict_samples=None):
    """The splits of one raw file cut 80/10/10 as ``prepare_data.py`` cuts it (the demo data); rows
    under ``min_text_chars`` are dropped before the cut, so no split has unscored rows."""
    splits, text_column, label_names, _ = prepare_splits(path, text_column=text_column, label_column=label_column,
                                                         min_text_chars=min_text_chars, seed=seed,
                                                         label_names=label_names)
    splits = dict(splits)
    splits["train"] = take_first(splits["train"], max_train_samples, "train")
    splits["validation"] = take_first(splits["validation"], max_eval_samples, "validation")
    splits["test"] = take_first(splits["test"], max_predict_samples, "test")
    return Splits(splits, text_column, label_names, f"{Path(path).name} (test split)",
                  {"validation": 0, "test": 0})


def align_labels(data, model_labels, source):
    """``data`` (:class:`Splits`) re-numbered in the label order of a model being trained further;
    a label the model lacks is refused (``source`` names the model in the message)."""
    extra = [name for name in data.label_names if name not in model_labels]
    if extra:
        raise DataError(f"{source}: the data has label(s) {extra} that the model does not know (its labels:"
                        f" {model_labels}); train a new model instead")
    if list(data.label_names) == list(model_labels):
        return data
    new_ids = [list(model_labels).index(name) for name in data.label_names]
    feature = datasets.ClassLabel(names=list(model_labels))
    aligned = {}
    for name, ds in data.splits.items():
        features = ds.features.copy()
        features["label"] = feature
        aligned[name] = ds.map(lambda b: {"label": [new_ids[i] for i in b["label"]]}, batched=True,
                               features=features)
    return Splits(aligned, data.text_column, list(model_labels), data.test_name, data.unscored)
