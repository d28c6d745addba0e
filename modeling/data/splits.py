"""A run's splits: :func:`load_splits` is the one way a training run's data comes in (files, a
``datasets.load_dataset`` source or ``datasets`` objects; each file read once, every split cleaned
with the train split's label names), :func:`split_dataset` the seeded stratified cut, and
:func:`prepare_splits` / :func:`write_splits` what ``prepare_data.py`` cuts from one raw file and
writes (the demo data is cut the same way in memory).
"""

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import datasets

from ..config import NON_EMPTY, TUTORIAL_MIN_TEXT_CHARS, short_text_reason
from ..utils import atomic_path, atomic_write_json
from .cleaning import TITLETEXT, clean_table, read_labelled_file
from .files import DataError, read_dataset, read_table, tables_from_datasets
from .labels import label_counts, renumber_labels

logger = logging.getLogger(__name__)

SPLIT_FILES = {"train": "train.csv", "validation": "valid.csv", "test": "test.csv"}
# Written next to the splits: where they came from, read by train.py for the model card.
DATA_SOURCE_FILE = "data_source.json"


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
    train, text_column, label_names, _ = clean_table(train_table, **options, label_names=label_names,
                                                     label_names_given=given)
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
        splits[name], _, _, stats = clean_table(table, **options, label_names=label_names, label_names_given=given)
        unscored[name] = stats.rows_dropped_short
    splits = take_first(splits, max_train_samples, max_eval_samples, max_predict_samples)
    return Splits(splits, text_column, label_names, test_name if "test" in splits else None, unscored)


def load_demo_splits(path, *, text_column=None, label_column="label", min_text_chars=NON_EMPTY, seed=42,
                     label_names=None, max_train_samples=None, max_eval_samples=None, max_predict_samples=None):
    """The splits of one raw file cut 80/10/10 as ``prepare_data.py`` cuts it (the demo data); rows
    under ``min_text_chars`` are dropped before the cut, so no split has unscored rows."""
    splits, text_column, label_names, _ = prepare_splits(path, text_column=text_column, label_column=label_column,
                                                         min_text_chars=min_text_chars, seed=seed,
                                                         label_names=label_names)
    splits = take_first(splits, max_train_samples, max_eval_samples, max_predict_samples)
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
    aligned = {name: renumber_labels(ds, data.label_names, model_labels) for name, ds in data.splits.items()}
    return Splits(aligned, data.text_column, list(model_labels), data.test_name, data.unscored)


def take_first(splits, max_train_samples=None, max_eval_samples=None, max_predict_samples=None):
    """``splits`` with only the first N train / validation / test examples (``--max_train_samples``,
    ``--max_eval_samples``, ``--max_predict_samples``), as the HF scripts select them."""
    splits = dict(splits)
    for name, n in (("train", max_train_samples), ("validation", max_eval_samples), ("test", max_predict_samples)):
        if n is not None and name in splits and n < len(splits[name]):
            logger.info(f"Keeping the first {n} of {len(splits[name])} {name} examples")
            splits[name] = splits[name].select(range(n))
    return splits


def split_dataset(ds, train_ratio=0.8, valid_ratio=0.1, seed=42, source="data", hint="use more rows or other ratios"):
    """Seeded, stratified split into ``train``/``validation``/``test`` (test gets the rest).

    Every split must receive every class; otherwise a :class:`DataError` names ``source``,
    the class counts and ``hint`` (the fix).
    """
    test_ratio = max(0.0, round(1.0 - train_ratio - valid_ratio, 10))
    if not (0 < train_ratio < 1 and 0 < valid_ratio < 1 and train_ratio + valid_ratio <= 1 + 1e-10):
        raise DataError(f"ratios must be in (0, 1) and sum to at most 1, got train {train_ratio}, valid {valid_ratio}")
    n = len(ds)
    n_valid = round(n * valid_ratio)
    n_test = 0 if test_ratio == 0 else n - round(n * train_ratio) - n_valid
    sizes = [n - n_valid - n_test, n_valid] + ([n_test] if test_ratio else [])
    counts = label_counts(ds, ds.features["label"].names)
    if min(sizes) >= len(counts) and min(counts.values()) >= len(sizes):  # each split can get each class
        try:
            first = ds.train_test_split(test_size=n_valid + n_test, stratify_by_column="label", seed=seed)
            if n_test == 0:
                return datasets.DatasetDict(train=first["train"], validation=first["test"])
            second = first["test"].train_test_split(test_size=n_test, stratify_by_column="label", seed=seed)
            return datasets.DatasetDict(train=first["train"], validation=second["train"], test=second["test"])
        except ValueError:  # the stratified splitter's own checks
            pass
    ratios = f"train {train_ratio:g} / valid {valid_ratio:g}" + (f" / test {test_ratio:g}" if test_ratio else "")
    classes = ", ".join(f"{name} {k}" for name, k in counts.items())
    raise DataError(f"{source}: cannot split {n} rows ({classes}) into {ratios} with every class in every split;"
                    f" {hint}")


@dataclass
class PrepareReport:
    """What :func:`prepare_splits` did: counts for the logs."""

    rows_read: int = 0
    dedup: bool = False
    rows_dropped_short: int = 0
    rows_dropped_unlabelled: int = 0
    min_text_chars: int = TUTORIAL_MIN_TEXT_CHARS
    rows_dropped_duplicate: int = 0
    duplicate_label_conflicts: int = 0
    cross_split_duplicates: int = 0
    class_balance: dict = field(default_factory=dict)

    def lines(self):
        """Human-readable summary, one line per fact."""
        kept = self.rows_read - self.rows_dropped_unlabelled - self.rows_dropped_short - self.rows_dropped_duplicate
        rule = short_text_reason(self.min_text_chars, plural=True)
        dropped = f"rows dropped: {self.rows_dropped_short} {rule} (--min_text_chars)"
        if self.rows_dropped_unlabelled:
            dropped += f", {self.rows_dropped_unlabelled} without a label"
        if self.dedup:
            dropped += f", {self.rows_dropped_duplicate} exact duplicates of an earlier text (--dedup)"
        out = [f"rows read: {self.rows_read}", dropped, f"rows kept: {kept}"]
        if self.duplicate_label_conflicts:
            out.append(f"warning: {self.duplicate_label_conflicts} duplicated texts carry different labels")
        for split, counts in self.class_balance.items():
            total = sum(counts.values())
            shares = ", ".join(f"{name} {n} ({n / total:.1%})" for name, n in counts.items())
            out.append(f"{split}: {total} rows: {shares}")
        leak = self.cross_split_duplicates
        out.append(f"exact-duplicate texts found in more than one split: {leak}"
                   + (" (test leakage; --dedup removes them)" if leak else ""))
        return out


def prepare_splits(input_file, *, text_column=None, title_column="title", label_column="label",
                   first_n_words=200, min_text_chars=TUTORIAL_MIN_TEXT_CHARS, train_ratio=0.8, valid_ratio=0.1, seed=42,
                   dedup=False, label_names=None, delimiter=None, column_names=None):
    """Load a raw data file, clean it as the tutorial does, optionally drop duplicates, and split it.

    ``min_text_chars`` is the short-text rule: the tutorial's (``TUTORIAL_MIN_TEXT_CHARS``) by default;
    1 drops only empty texts.

    ``label_names`` fixes the class names in id order (integer labels are read as ids into them);
    ``delimiter`` overrides the sniffed CSV delimiter; ``column_names`` names the columns of a file
    without a header row.

    Returns:
        (``DatasetDict`` with ``train``/``validation``/``test``, text column, label names, :class:`PrepareReport`)
    """
    ds, text_column, label_names, stats = read_labelled_file(
        input_file, text_column=text_column, title_column=title_column, label_column=label_column,
        first_n_words=first_n_words, min_text_chars=min_text_chars, label_names=label_names,
        label_names_given="--label_names", delimiter=delimiter, column_names=column_names)
    report = PrepareReport(rows_read=stats.rows_read, rows_dropped_short=stats.rows_dropped_short,
                           rows_dropped_unlabelled=stats.rows_dropped_unlabelled, min_text_chars=min_text_chars,
                           dedup=dedup)
    report.duplicate_label_conflicts = count_label_conflicts(ds, text_column)
    if dedup:
        before = len(ds)
        ds = drop_duplicate_texts(ds, text_column)
        report.rows_dropped_duplicate = before - len(ds)
    splits = split_dataset(ds, train_ratio=train_ratio, valid_ratio=valid_ratio, seed=seed, source=str(input_file),
                           hint="use more rows or other --train_ratio/--valid_ratio")
    report.cross_split_duplicates = count_cross_split_duplicates(splits, text_column)
    report.class_balance = {name: label_counts(split, label_names) for name, split in splits.items()}
    return splits, text_column, label_names, report


def drop_duplicate_texts(ds, text_column):
    """Keep the first row of each exact-duplicate text."""
    first = {}
    for i, text in enumerate(ds[text_column]):
        first.setdefault(text, i)
    return ds.select(sorted(first.values()))


def count_label_conflicts(ds, text_column):
    """Number of distinct texts that appear with more than one label."""
    labels = {}
    for text, label in zip(ds[text_column], ds["label"]):
        labels.setdefault(text, set()).add(label)
    return sum(len(found) > 1 for found in labels.values())


def count_cross_split_duplicates(splits, text_column):
    """Number of distinct texts found in more than one split (exact match)."""
    seen = {}
    for name, split in splits.items():
        for text in set(split[text_column]):
            seen[text] = seen.get(text, 0) + 1
    return sum(n > 1 for n in seen.values())


def output_columns(ds, text_column):
    """The tutorial's columns when title and text exist, else the label and the text column."""
    if text_column == TITLETEXT and {"title", "text"} <= set(ds.column_names):
        return ["label", "title", "text", TITLETEXT]
    return ["label", text_column]


def write_splits(splits, output_dir, text_column, label_names):
    """Write ``train.csv``/``valid.csv``/``test.csv`` with label names (not ids), atomically."""
    paths = {}
    for name, split in splits.items():
        frame = split.select_columns(output_columns(split, text_column)).to_pandas()
        frame["label"] = [label_names[i] for i in frame["label"]]
        path = Path(output_dir) / SPLIT_FILES[name]
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False)
        paths[name] = path
    return paths


def write_data_source(output_dir, input_file, report, *, first_n_words, seed, dedup, train_ratio, valid_ratio):
    """Write ``data_source.json`` next to the splits: the raw file's name and SHA-256, what was
    dropped and kept, the word limit and the split, so that the model card can name the data."""
    digest = hashlib.sha256()
    with open(input_file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    atomic_write_json(Path(output_dir) / DATA_SOURCE_FILE, {
        "source_file": Path(input_file).name, "source_sha256": digest.hexdigest(),
        "rows_read": report.rows_read, "rows_dropped_short": report.rows_dropped_short,
        "rows_dropped_unlabelled": report.rows_dropped_unlabelled,
        "rows_dropped_duplicate": report.rows_dropped_duplicate, "first_n_words": first_n_words,
        "dedup": dedup, "seed": seed, "train_ratio": train_ratio, "valid_ratio": valid_ratio,
        "split_rows": {name: sum(counts.values()) for name, counts in report.class_balance.items()},
        "prepared_by": "scripts/prepare_data.py",
    })


def read_data_source(train_file):
    """The ``data_source.json`` next to ``train_file`` (written by prepare_data.py), or ``None``."""
    path = Path(str(train_file)).parent / DATA_SOURCE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
