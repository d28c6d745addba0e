"""Label columns: which classes a file holds, in which id order, and how its cells map to ids.

Cells are matched to class names exactly first; a cell that differs from a name only in case or
surrounding spaces (``fake``, `` FAKE ``) is read as that name, with a warning that names every
spelling, so such a file never becomes a model with extra classes. Integer cells (``0``/``1``)
given with ``label_names`` (``--label_names REAL,FAKE``) are ids into those names.
"""

import logging

import datasets
import pyarrow.compute as pc

from .files import DataError

logger = logging.getLogger(__name__)


def _key(value):
    return value.strip().casefold()


def _is_int(value):
    return value.strip().lstrip("-").isdigit()


def infer_label_names(values):
    """Class names in id order: REAL/FAKE as the tutorial (REAL=0, FAKE=1; any case), integers
    numerically, anything else sorted."""
    names = {str(v) for v in values}
    by_key = {_key(n): n for n in names}
    if set(by_key) == {"real", "fake"}:
        return [by_key["real"], by_key["fake"]]
    if all(_is_int(n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def value_counts(ds, column):
    """``{cell: rows}`` of one string column, counted by Arrow (no Python list of the column)."""
    counts = pc.value_counts(ds.with_format("arrow")[column])
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def label_names_from(counts):
    """Class names of a train split from its :func:`value_counts`: one name per class, spelled as
    most of its rows spell it (spaces stripped), in :func:`infer_label_names` order."""
    spellings = {}
    for value, n in counts.items():
        group = spellings.setdefault(_key(value), {})
        group[value.strip()] = group.get(value.strip(), 0) + n
    canonical = [min(group, key=lambda s: (-group[s], s)) for group in spellings.values()]
    return infer_label_names(canonical)


def label_mapping(counts, label_names):
    """Map each cell of :func:`value_counts` to an id of ``label_names``.

    Returns:
        (``{cell: id}``, ``{name: [other spellings]}`` read as that name, the cells that match no
        name, whether integer cells were read as ids)
    """
    exact = {name: i for i, name in enumerate(label_names)}
    by_key = {}
    for i, name in enumerate(label_names):
        by_key.setdefault(_key(name), i)
    as_ids = (all(_is_int(v) for v in counts) and not any(v.strip() in exact for v in counts))
    mapping, respelled, unknown = {}, {}, []
    for value in sorted(counts, key=str):
        if value in exact:
            mapping[value] = exact[value]
        elif as_ids and 0 <= int(value) < len(label_names):
            mapping[value] = int(value)
        elif not as_ids and _key(value) in by_key:
            mapping[value] = by_key[_key(value)]
            respelled.setdefault(label_names[mapping[value]], []).append(value)
        else:
            unknown.append(value)
    return mapping, respelled, unknown, as_ids


def encode_labels(ds, label_column, label_names, counts=None, *, source="data", row_of=None, given="train split"):
    """Replace ``label_column`` by a ``ClassLabel`` column ``label`` in ``label_names`` order.

    Args:
        ds: the dataset, ``label_column`` holding strings.
        label_names: the class names, in id order.
        counts: the column's :func:`value_counts`, when the caller has them.
        source: the file, for messages.
        row_of: ``f(predicate) -> row number`` of the first row whose cell satisfies ``predicate``.
        given: where ``label_names`` came from, for the message about an unknown label.

    Returns:
        (the dataset, whether integer cells were read as ids)
    """
    counts = counts if counts is not None else value_counts(ds, label_column)
    mapping, respelled, unknown, as_ids = label_mapping(counts, label_names)
    if unknown:
        value = unknown[0]
        row = row_of(lambda v: v == value) if row_of else "?"
        what = (f"is not an id of {label_names} (0..{len(label_names) - 1})" if as_ids
                else f"is not one of {label_names}")
        raise DataError(f"{source}: row {row}, column {label_column!r}: label {value!r} {what}"
                        f" ({sum(counts[v] for v in unknown)} such rows); labels come from the {given}")
    for name, others in respelled.items():
        rows = sum(counts[v] for v in others)
        logger.warning(f"{source}: column {label_column!r}: {', '.join(map(repr, others))} ({rows} rows) read as"
                       f" {name!r}: labels that differ only in case or surrounding spaces are one class")
    if as_ids:
        logger.info(f"{source}: column {label_column!r} holds integers, read as ids of {label_names}")
    features = ds.features.copy()
    del features[label_column]
    features.pop("label", None)
    features["label"] = datasets.ClassLabel(names=list(label_names))
    return ds.map(lambda batch: {"label": [mapping[v] for v in batch[label_column]]}, batched=True,
                  remove_columns=[c for c in (label_column, "label") if c in ds.column_names],
                  features=features, desc="Encoding labels"), as_ids


def label_counts(ds, label_names):
    """``{label name: rows}`` of a dataset with a ``label`` id column."""
    counts = {name: 0 for name in label_names}
    for i in ds["label"]:
        counts[label_names[i]] += 1
    return counts


def renumber_labels(ds, label_names, new_names):
    """``ds``'s ``label`` ids (in ``label_names`` order) re-numbered in ``new_names`` order, which must
    hold every name of ``label_names``: a model's own order, for a file or run that numbers its
    classes otherwise."""
    if list(label_names) == list(new_names):
        return ds
    new_ids = [list(new_names).index(name) for name in label_names]
    features = ds.features.copy()
    features["label"] = datasets.ClassLabel(names=list(new_names))
    return ds.map(lambda batch: {"label": [new_ids[i] for i in batch["label"]]}, batched=True, features=features,
                  desc="Mapping labels to the model's ids")
