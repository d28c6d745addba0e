"""Files read as streams: rows go by in chunks, never held whole and never written to the Arrow cache.

:func:`text_chunks` feeds batch scoring (``scripts/predict.py``): the input in chunks of rows, in
file order, each with the texts to classify (the same text-column rule as training). The
streaming-training side (``--streaming``) is in :mod:`modeling.data.stream_training`.
"""

import itertools
from dataclasses import dataclass
from pathlib import Path

from .cleaning import add_titletext, choose_text_column
from .files import TEXT_LINE_SUFFIXES, DataError, check_text_file, stream_table, string_batch


@dataclass
class Chunk:
    """Consecutive input rows: ``start`` is the index of the first, ``columns`` the input's columns
    (``{name: [str, ...]}``, with ``titletext`` when it was built), ``texts`` what is classified."""

    start: int
    columns: dict
    texts: list

    def __len__(self):
        return len(self.texts)


class TextSource:
    """Where batch scoring reads its texts: a data file (CSV/TSV, JSON lines, Parquet: streamed), a text
    file of one text per line, or a list of texts. ``columns`` are the input columns written next to
    each prediction; ``num_rows`` is known up front for Parquet files and lists, else ``None``."""

    def __init__(self, *, table=None, lines_file=None, texts=None, text_column=None, title_column="title"):
        self.table, self.lines_file, self.texts = table, lines_file, texts
        self.text_column, self.build_titletext = "text", False
        self.columns = ["text"]
        if table is not None:
            self.text_column, self.build_titletext = choose_text_column(table.columns, text_column, title_column,
                                                                         str(table.path))
            self.columns = table.columns + (["titletext"] if self.build_titletext else [])
        self.title_column = title_column

    @classmethod
    def from_file(cls, path, *, text_column=None, delimiter=None, column_names=None):
        """A data file, or a ``.txt`` file of one text per line (blank lines kept)."""
        if Path(path).suffix.lower() in TEXT_LINE_SUFFIXES:
            if column_names:
                raise DataError(f"{path}: --column_names names the columns of a CSV/TSV file; a text file has one"
                                " text per line")
            check_text_file(path)
            return cls(lines_file=Path(path))
        return cls(table=stream_table(path, delimiter=delimiter, column_names=column_names), text_column=text_column)

    @property
    def num_rows(self):
        if isinstance(self.texts, list):
            return len(self.texts)
        if self.table is not None and self.table.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(self.table.path).metadata.num_rows
        return None

    def chunks(self, chunk_size, skip_rows=0):
        """Yield :class:`Chunk` objects of ``chunk_size`` rows (the last may be shorter), starting at
        row ``skip_rows`` (rows before it are read past, not converted)."""
        if self.table is not None:
            yield from self._table_chunks(chunk_size, skip_rows)
            return
        lines = self.texts if self.texts is not None else self._lines()
        start = skip_rows
        lines = itertools.islice(lines, skip_rows, None)
        while True:
            texts = [line.strip() for line in itertools.islice(lines, chunk_size)]
            if not texts:
                return
            yield Chunk(start, {"text": texts}, texts)
            start += len(texts)

    def _lines(self):
        with open(self.lines_file, encoding="utf-8", newline="") as f:  # checked to be UTF-8 by from_file
            for line in f:
                yield line.rstrip("\r\n")

    def _table_chunks(self, chunk_size, skip_rows):
        stream = self.table.dataset().with_format("arrow")
        start, seen = skip_rows, 0
        for batch in stream.iter(batch_size=chunk_size):
            end = seen + batch.num_rows
            if end <= skip_rows:
                seen = end
                continue
            if seen < skip_rows:
                batch = batch.slice(skip_rows - seen)
            seen = end
            columns = string_batch(batch, self.table.columns, self.table.path)
            if self.build_titletext:
                columns.update(add_titletext(columns, title_column=self.title_column))
            yield Chunk(start, columns, columns[self.text_column])
            start += batch.num_rows
