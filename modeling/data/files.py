"""Reading a user's data file: what it is, how it is delimited, which columns it has.

One place decides how a path becomes string columns, for training, evaluation, prediction and
``prepare_data.py`` alike: a ``datasets.Dataset`` (:func:`read_table`), or a stream of rows that never
reaches the Arrow cache (:func:`stream_table`: batch scoring, ``train.py --streaming``). It accepts the shapes real files come in:
CSV/TSV (a UTF-8 byte-order mark, Windows line endings, quoted multi-line fields, semicolons as
European Excel writes them, the unnamed index column of ``DataFrame.to_csv()``), JSON lines and
Parquet, and text files of one text per line (:func:`check_text_file`). Everything else is refused with
one line that names the file and says what to do. Opening a file (format, encoding, header, column
checks) is kept apart from taking its rows: a :class:`Table`'s dataset is Arrow on disk, not rows
in memory.
"""

import csv
import functools
import logging
import re
from pathlib import Path

import datasets
import pyarrow as pa

logger = logging.getLogger(__name__)

CSV_DELIMITERS = (",", "\t", ";", "|")
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Plain text, one text per line: texts to classify (predict.py), never labelled data.
TEXT_LINE_SUFFIXES = (".txt", ".text")
# pandas names a column without a header "Unnamed: N"; written back with to_csv() it keeps that name.
_PANDAS_UNNAMED = re.compile(r"^Unnamed: \d+$")
# Magic numbers of files that are often renamed or exported by mistake.
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)",
     "open it in Excel and save it as 'CSV UTF-8', or convert it with pandas.read_excel(...).to_csv(..., index=False)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook",
     "open it in Excel and save it as 'CSV UTF-8', or convert it with pandas.read_excel(...).to_csv(..., index=False)"),
    (b"PAR1", "a Parquet file", "give it the .parquet extension"),
    (b"\x1f\x8b", "a gzip-compressed file", "decompress it first (gunzip)"),
)


class DataError(ValueError):
    """Bad input data; the message names the file, column or row and the fix."""


class Table:
    """A loaded file: its rows as a ``datasets.Dataset`` of string columns, and how to name a row.

    ``first_row`` is the number a person sees for the first data row: 2 in a CSV (the header is
    row 1), 1 in JSON lines and Parquet.
    """

    def __init__(self, dataset, path, kind, first_row):
        self.dataset, self.path, self.kind, self.first_row = dataset, Path(path), kind, first_row


def read_table(path, *, required_columns=(), delimiter=None, column_names=None):
    """Load ``path`` (CSV/TSV, JSON lines or Parquet, chosen by extension) as a :class:`Table`.

    Every column comes back as strings: empty cells and JSON nulls are ``""``, and "NA" or
    "null" in a CSV stay text. An unnamed first column (the index ``DataFrame.to_csv()`` writes)
    is dropped with a note.

    Args:
        path: the file.
        required_columns: columns the caller needs; a missing one is a :class:`DataError`.
        delimiter: the CSV delimiter; default: tab for ``.tsv``, else sniffed from the header.
        column_names: the column names of a CSV/TSV without a header row (``--column_names``, e.g.
            LIAR's TSVs): its first row is then data.
    """
    path = Path(path)
    _check_is_file(path)
    suffix = path.suffix.lower()
    if suffix in TEXT_LINE_SUFFIXES and required_columns:
        raise DataError(f"{path}: a text file (one text per line) has no columns such as {required_columns[0]!r};"
                        " labelled data is a CSV/TSV, JSON lines or Parquet file")
    _check_column_names(path, column_names)
    if suffix in PARQUET_SUFFIXES:
        table = _read_arrow_table(path, "parquet")
    elif suffix in JSON_SUFFIXES:
        table = _read_arrow_table(path, "json")
    else:
        table = _read_csv(path, delimiter, column_names)
    columns = table.dataset.column_names
    missing = [c for c in required_columns if c and c not in columns]
    if missing:
        hint = header_hint(columns) if table.kind != "json" else ""
        raise DataError(f"{path}: no column {missing[0]!r}; the file has columns {show_columns(columns)}"
                        f"{hint or ' (set --label_column or --text_column)'}")
    return table


def _check_column_names(path, column_names):
    if column_names and path.suffix.lower() in PARQUET_SUFFIXES + JSON_SUFFIXES:
        raise DataError(f"{path}: --column_names names the columns of a CSV/TSV file without a header row;"
                        " this file's format names its own")


def _check_is_file(path):
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.is_file())[:5]
        listing = f" (it holds {', '.join(inside)})" if inside else " (it holds no files)"
        raise DataError(f"{path}: is a folder, not a file{listing}; pass the path of one data file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head.strip():
        raise DataError(f"{path}: the file is empty (expected a header row with column names)")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return
    for magic, what, fix in _SIGNATURES:
        if head.startswith(magic):
            raise DataError(f"{path}: this is {what}, not a text file; {fix}")


# ----------------------------------------------------------------------------- CSV / TSV
def _read_csv(path, delimiter, column_names=None):
    header = _checked_header(path, delimiter, column_names)
    delimiter, columns = header.delimiter, header.columns
    features = datasets.Features({name: datasets.Value("string") for name in columns})
    # The CSV builder logs a parse failure before raising it; the DataError below says it once.
    csv_logger = logging.getLogger("datasets.packaged_modules.csv.csv")
    level = csv_logger.level
    csv_logger.setLevel(logging.CRITICAL)
    try:
        ds = datasets.load_dataset("csv", data_files=str(path), features=features, keep_default_na=False,
                                   sep=delimiter, split="train", column_names=columns if column_names else None)
    except Exception as err:  # pandas' ParserError arrives wrapped in datasets' DatasetGenerationError
        cause = err.__cause__ or err
        raise DataError(f"{path}: cannot parse the file as {_format_name(delimiter)}:"
                        f" {str(cause).strip().splitlines()[-1]}") from None
    finally:
        csv_logger.setLevel(level)
    if header.index_column:
        logger.info(f"{path}: ignoring the first column, which has no name: it is the row index that"
                    " pandas' DataFrame.to_csv() writes")
        ds = ds.remove_columns(header.index_column)
    return Table(ds, path, "csv", first_row=1 if column_names else 2)


def _checked_header(path, delimiter, column_names):
    """The header of a CSV/TSV that is UTF-8 and has named columns and data rows (else a DataError)."""
    _check_utf8(path)
    header, has_rows = _read_header(path, delimiter)
    if column_names:  # no header row: the first row is data, and says how many columns there are
        if len(column_names) != len(header.raw):
            raise DataError(f"{path}: --column_names gives {len(column_names)} names but the first row has"
                            f" {len(header.raw)} columns ({_format_name(header.delimiter)}); name every column")
        header, has_rows = _Header(list(column_names), header.delimiter, headerless=True), True
    if not header.names_ok:
        raise DataError(f"{path}: the header row has empty or repeated column names {show_columns(header.raw)}"
                        f"{header_hint(header.raw)}")
    if not has_rows:
        raise DataError(f"{path}: the file has a header row {show_columns(header.raw)} but no data rows")
    return header


class _Header:
    def __init__(self, raw, delimiter, headerless=False):
        self.raw, self.delimiter = raw, delimiter
        names = list(raw)
        self.index_column = None
        # DataFrame.to_csv() with its default index=True: an empty first header cell (pandas reads it
        # back as "Unnamed: 0", and writes that name if the frame is saved again).
        if (not headerless and names and (names[0].strip() == "" or _PANDAS_UNNAMED.match(names[0]))
                and len(names) > 1):
            names[0] = self.index_column = "Unnamed: 0" if not names[0].strip() else names[0]
        self.columns = names
        self.names_ok = len(set(names)) == len(names) and all(n.strip() for n in names)


def _read_header(path, delimiter):
    # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte-order mark, which would
    # otherwise become part of the first column name. newline="" lets csv handle CRLF and
    # line breaks inside quoted fields.
    with open(path, newline="", encoding="utf-8-sig") as f:
        first_line = f.readline()
        f.seek(0)
        delimiter = delimiter or _sniff_delimiter(path, first_line)
        header = next(csv.reader(f, delimiter=delimiter), None)
        has_rows = bool(f.read(65536).strip())
    if not header or not any(name.strip() for name in header):
        raise DataError(f"{path}: the file is empty (expected a header row with column names)")
    stripped = first_line.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        raise DataError(f"{path}: this looks like JSON (JSON lines: one object per line), not CSV;"
                        " give it the .jsonl extension to read it as JSON lines")
    return _Header(header, delimiter), has_rows


def _sniff_delimiter(path, header_line):
    """Tab for ``.tsv``/``.tab``; else the delimiter that splits the header row into the most
    columns (comma on a tie): column names rarely hold commas, tabs or semicolons."""
    if Path(path).suffix.lower() in (".tsv", ".tab"):
        return "\t"
    counts = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 1 else ","


def _format_name(delimiter):
    return {",": "CSV", "\t": "TSV"}.get(delimiter, f"CSV with delimiter {delimiter!r}")


def _check_utf8(path):
    """Refuse a file that is not UTF-8, naming the first bad line (datasets would only say 'codec')."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{path}: line {number} is not valid UTF-8 (byte {line[err.start]:#04x} at column {err.start + 1});"
                    " re-save the file as UTF-8"
                ) from None


def check_text_file(path):
    """Refuse, in one :class:`DataError` line, a text file that is a folder, missing or not UTF-8 (read
    once, line by line: memory stays flat)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file; pass the path of one text file")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    _check_utf8(path)


# ----------------------------------------------------------------------------- JSON lines, Parquet
def _read_arrow_table(path, kind):
    try:
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    except Exception as err:
        cause = err.__cause__ or err
        what = "JSON lines (one JSON object per line)" if kind == "json" else "Parquet"
        raise DataError(f"{path}: cannot read the file as {what}: {str(cause).strip().splitlines()[-1]}") from None
    if not len(ds):
        raise DataError(f"{path}: the file has no rows")
    ds = _string_columns(ds, path)
    for name in [c for c in ds.column_names if _PANDAS_UNNAMED.match(c) or c.startswith("__index_level_")]:
        ds = ds.remove_columns(name)  # a pandas index saved into the file
    return Table(ds, path, kind, first_row=1)


def _as_strings(batch):
    return {name: [cell_text(v) for v in values] for name, values in batch.items()}


def cell_text(value):
    """A cell as :func:`read_table` reads it: ``""`` for null, numbers as text (1.0 as ``"1"``)."""
    return "" if value is None else value if isinstance(value, str) else _number_text(value)


def _number_text(value):
    # 1.0 from a float column is the label "1", as in a CSV; other values keep Python's spelling.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ----------------------------------------------------------------------------- datasets.load_dataset
# The split names a datasets.load_dataset source may use for each of a run's splits.
SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "dev", "val"), "test": ("test",)}


def read_dataset(name, config_name=None, *, label_column="label", **load_options):
    """Load a data set with ``datasets.load_dataset`` (a Hub id, or a local folder or loading script)
    as ``{"train", "validation", "test"}`` :class:`Table` objects (the splits it has), every column
    strings, and the class names its ``ClassLabel`` label column declares (else None).

    Split names ``valid``, ``dev`` and ``val`` count as ``validation``.
    """
    try:
        loaded = datasets.load_dataset(name, config_name, **load_options)
    except Exception as err:  # not found, offline, a config needed: the library's message says which
        message = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"--dataset_name {name}: cannot load it with datasets.load_dataset: {message}") from None
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict(train=loaded)
    splits = {}
    for split, aliases in SPLIT_ALIASES.items():
        found = next((a for a in aliases if a in loaded), None)
        if found is not None:
            splits[split] = found
    if "train" not in splits:
        raise DataError(f"--dataset_name {name}: no 'train' split; it has {sorted(loaded)}")
    return tables_from_datasets({split: loaded[found] for split, found in splits.items()},
                                label_column=label_column, sources={s: f"{name} ({f} split)" for s, f in splits.items()})


def tables_from_datasets(splits, *, label_column="label", sources=None):
    """:class:`Table` objects of ``datasets.Dataset`` splits (``{"train": ..., ...}``), every column
    strings, and the class names the train split's ``ClassLabel`` label column declares (else None).

    ``sources`` names each split in messages (default ``"<split>_data"``).
    """
    for split, ds in splits.items():
        if not isinstance(ds, datasets.Dataset):
            raise TypeError(f"expected a file path, a datasets.Dataset or a DatasetDict for the {split} data,"
                            f" got {type(ds).__name__}")
    label_feature = splits["train"].features.get(label_column)
    label_names = list(label_feature.names) if isinstance(label_feature, datasets.ClassLabel) else None
    tables = {}
    for split, ds in splits.items():
        source = (sources or {}).get(split, f"{split}_data")
        if label_names and label_column in ds.column_names:
            ds = ds.map(lambda b: {label_column: [label_names[i] if i is not None and i >= 0 else ""
                                                  for i in b[label_column]]},
                        batched=True, features=datasets.Features(
                            {**ds.features, label_column: datasets.Value("string")}), desc="Naming labels")
        tables[split] = Table(_string_columns(ds, source), source, "dataset", first_row=1)
    return tables, label_names


def _string_columns(ds, source):
    nested = [name for name, feature in ds.features.items() if not isinstance(feature, datasets.Value)]
    if nested:
        raise DataError(f"{source}: column {nested[0]!r} holds lists or objects; every column used must be text or"
                        " a number")
    return ds.map(_as_strings, batched=True, features=datasets.Features(
        {name: datasets.Value("string") for name in ds.column_names}), desc="Reading columns as text")


# ----------------------------------------------------------------------------- messages
def show_columns(columns, width=40):
    """Column names for a message, long ones cut (a header-less file's "names" are data)."""
    return "[" + ", ".join(repr(c if len(c) <= width else c[: width - 3] + "...") for c in columns) + "]"


def _looks_like_data(cell):
    return len(cell) > 40 or len(cell.split()) >= 4 or any(ch.isdigit() for ch in cell)


def header_hint(columns):
    """A hint for a file without a header row: most of its "column names" look like data cells
    (long, several words, or digits); an empty or repeated name alone does not mean that."""
    named = [c for c in columns if c.strip()]
    if named and sum(map(_looks_like_data, named)) * 2 >= len(named):
        return (f" (the first row looks like data: does the file lack a header row? Then name its {len(columns)}"
                " columns with --column_names, e.g. --column_names id,label,text,...)")
    return ""


# ----------------------------------------------------------------------------- streaming
def stream_table(path, *, required_columns=(), delimiter=None, column_names=None):
    """``path`` read as :func:`read_table` reads it (the same checks, delimiter, header and column
    rules) but as a streaming ``datasets.IterableDataset``: rows are parsed as they are iterated and
    nothing is written to the Arrow cache, so a file larger than memory or disk goes through.

    Returns a :class:`Table` whose ``dataset`` is a function of no arguments that builds a fresh
    ``IterableDataset`` (one per pass: a dataset whose state was loaded keeps resuming from it), and
    whose ``columns`` are the columns every row has (JSON and Parquet columns are cast to strings
    per batch by :func:`string_batch`).
    """
    path = Path(path)
    _check_is_file(path)
    suffix = path.suffix.lower()
    _check_column_names(path, column_names)
    if suffix in PARQUET_SUFFIXES + JSON_SUFFIXES:
        kind = "parquet" if suffix in PARQUET_SUFFIXES else "json"
        open_stream = functools.partial(datasets.load_dataset, kind, data_files=str(path), split="train", streaming=True)
        columns = _stream_columns(open_stream, path, kind)
        table = Table(open_stream, path, kind, first_row=1)
    else:
        header = _checked_header(path, delimiter, column_names)
        features = datasets.Features({name: datasets.Value("string") for name in header.columns})
        kept = [c for c in header.columns if c != header.index_column]
        open_stream = functools.partial(
            _csv_stream, path=str(path), features=features, sep=header.delimiter, keep=kept,
            column_names=header.columns if column_names else None)
        columns = kept
        table = Table(open_stream, path, "csv", first_row=1 if column_names else 2)
    missing = [c for c in required_columns if c and c not in columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r}; the file has columns {show_columns(columns)}"
                        " (set --label_column or --text_column)")
    table.columns = columns
    return table


def _csv_stream(path, features, sep, keep, column_names):
    ds = datasets.load_dataset("csv", data_files=path, features=features, keep_default_na=False, sep=sep,
                               split="train", streaming=True, column_names=column_names)
    return ds.select_columns(keep) if len(keep) < len(features) else ds


def _stream_columns(open_stream, path, kind):
    what = "JSON lines (one JSON object per line)" if kind == "json" else "Parquet"
    try:
        first = next(iter(open_stream().with_format("arrow").iter(batch_size=1)), None)
    except Exception as err:
        cause = err.__cause__ or err
        raise DataError(f"{path}: cannot read the file as {what}: {str(cause).strip().splitlines()[-1]}") from None
    if first is None:
        raise DataError(f"{path}: the file has no rows")
    return [c for c in first.column_names if not (_PANDAS_UNNAMED.match(c) or c.startswith("__index_level_"))]


def string_batch(table, columns, source):
    """A ``pyarrow.Table`` batch of a streamed file as ``{column: list of str}`` for ``columns``:
    nulls become ``""`` and numbers their text, as :func:`read_table` reads them."""
    out = {}
    for name in columns:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            out[name] = [v if v is not None else "" for v in column.to_pylist()]
        elif pa.types.is_nested(column.type):
            raise DataError(f"{source}: column {name!r} holds lists or objects; every column used must be text or"
                            " a number")
        else:
            out[name] = _as_strings({name: column.to_pylist()})[name]
    return out
