"""The train split as a stream (``train.py --streaming``): a file that is never converted to an Arrow
cache, read by ``datasets`` streaming (``files.stream_table``) once to fit the vocabulary and count
the classes (:func:`scan_train_stream`), then again and again, each process its share
(``split_dataset_by_node``), into length-grouped batches from a bounded buffer (:class:`TrainStream`).

Rows are cleaned as :func:`modeling.data.cleaning.clean_table` cleans a split: ``titletext``
built, texts under the short-text rule dropped, the first ``first_n_words`` words kept, labels
mapped as :mod:`modeling.data.labels` maps them.
"""

import copy
import itertools
from dataclasses import dataclass, field
from typing import Optional

import torch
from datasets.distributed import split_dataset_by_node

from ..config import is_long_enough
from .batching import collate_batch
from .files import DataError, cell_text, string_batch
from .labels import label_mapping, label_names_from
from .cleaning import add_titletext, choose_text_column

GROUP_FACTOR = 50  # batches per length-grouping buffer, as LengthGroupedBatchSampler groups them
SCAN_BATCH = 10_000  # rows per Arrow batch of the fitting pass


@dataclass
class StreamRules:
    """How a streamed row becomes a training example (what :func:`scan_train_stream` decided)."""

    text_column: str
    build_titletext: bool
    label_column: str
    title_column: str
    first_n_words: int
    min_text_chars: int
    max_rows: Optional[int] = None  # --max_train_samples: only the first rows of the file
    label_names: list = field(default_factory=list)
    label_ids: dict = field(default_factory=dict)  # label cell -> id

    def clean(self, columns):
        """``{column: [str]}`` rows → (texts, label cells) of the rows the short-text rule keeps."""
        if self.build_titletext:
            columns = {**columns, **add_titletext(columns, title_column=self.title_column)}
        body = columns["text"] if self.build_titletext else columns[self.text_column]
        keep = [i for i, text in enumerate(body) if is_long_enough(text, self.min_text_chars)]
        n = self.first_n_words
        texts = [" ".join(columns[self.text_column][i].split(maxsplit=n)[:n]) for i in keep]
        return texts, [columns[self.label_column][i] for i in keep]


class StreamScan:
    """The fitting pass over the train stream: iterate it for the text batches (tokenizer training),
    then read ``rows_read``, ``rows_kept`` and the label cells' counts; :meth:`finish` fixes the labels."""

    def __init__(self, table, rules, sample_rows=None):
        self.table, self.rules = table, rules
        self.limit = min(filter(None, (rules.max_rows, sample_rows)), default=None)
        self.rows_read, self.rows_kept, self.counts = 0, 0, {}
        self.complete = False  # the whole train stream was read (else a sample of it)

    def __iter__(self):
        stream = self.table.dataset().with_format("arrow")
        for batch in stream.iter(batch_size=SCAN_BATCH):
            if self.limit is not None and self.rows_read + batch.num_rows > self.limit:
                batch = batch.slice(0, self.limit - self.rows_read)
            columns = string_batch(batch, self.table.columns, self.table.path)
            for offset, cell in enumerate(columns[self.rules.label_column]):
                if not cell.strip():
                    raise DataError(f"{self.table.path}: row {self.table.first_row + self.rows_read + offset},"
                                    f" column {self.rules.label_column!r}: empty label; every row needs one")
                self.counts[cell] = self.counts.get(cell, 0) + 1
            texts, _ = self.rules.clean(columns)
            self.rows_read += batch.num_rows
            self.rows_kept += len(texts)
            if texts:
                yield texts
            if self.limit is not None and self.rows_read >= self.limit:
                # --max_train_samples alone: every row training will read was read
                self.complete = self.limit == self.rules.max_rows
                return
        self.complete = True

    def finish(self, label_names=None):
        """Fix the class names (``label_names``, else the stream's) and the cell → id mapping."""
        source = self.table.path
        if not self.rows_kept:
            raise DataError(f"{source}: no row of the train stream has a text the short-text rule keeps;"
                            " check --text_column")
        names = list(label_names) if label_names else label_names_from(self.counts)
        if len(names) < 2:
            raise DataError(f"{source}: column {self.rules.label_column!r} holds a single class {names};"
                            " a classifier needs at least 2 (check the file or the split)")
        mapping, _, unknown, _ = label_mapping(self.counts, names)
        if unknown:
            raise DataError(f"{source}: column {self.rules.label_column!r}: label {unknown[0]!r} is not one of"
                            f" {names} (--label_names)")
        self.rules.label_names, self.rules.label_ids = names, mapping
        return names


def scan_train_stream(table, *, text_column=None, title_column="title", label_column="label", first_n_words=200,
                      min_text_chars=1, max_rows=None, sample_rows=None):
    """The :class:`StreamScan` of a streamed train file (``files.stream_table``): iterate it once to
    train the tokenizer, then call its ``finish``. ``sample_rows`` reads only the first rows."""
    if label_column not in table.columns:
        raise DataError(f"{table.path}: no label column {label_column!r}; the file has columns {table.columns}"
                        " (set --label_column)")
    text_column, build = choose_text_column(table.columns, text_column, title_column, str(table.path))
    rules = StreamRules(text_column, build, label_column, title_column, first_n_words, min_text_chars, max_rows)
    return StreamScan(table, rules, sample_rows)


class TrainStream:
    """This process's share of the train stream as an endless sequence of padded batches.

    Each pass reads the file in order; ``buffer_size`` (``batch_size * GROUP_FACTOR``) kept rows at a
    time are shuffled, sorted by length and cut into batches whose order is shuffled (the short one
    last), as :class:`~modeling.data.batching.LengthGroupedBatchSampler` groups a cached split; the
    shuffles are seeded by (seed, pass, buffer). At the end of the file the next pass starts.

    :attr:`position` is all a resumed run needs to continue exactly: the pass, the ``datasets``
    stream's ``state_dict()`` where the current buffer began, the buffer's number and how many of
    its batches were handed out. :meth:`load_position` restores it; the buffer is then read again
    and its first batches skipped.
    """

    def __init__(self, table, rules, tokenizer, batch_size, *, seed=0, rank=0, world_size=1, pad_token_id=0):
        self.table, self.rules, self.tokenizer = table, rules, tokenizer
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.pad_token_id, self.buffer_size = pad_token_id, batch_size * GROUP_FACTOR
        self.position = {"epoch": 0, "stream_state": None, "buffer": 0, "batches_done": 0}

    def load_position(self, position):
        self.position = copy.deepcopy(position)

    def stream(self):
        """A fresh ``datasets`` stream of this process's rows (a stream whose state was loaded keeps
        it for every later pass, so each pass builds its own)."""
        ds = self.table.dataset()
        if self.rules.max_rows:
            ds = ds.take(self.rules.max_rows)
        ds = split_dataset_by_node(ds, rank=self.rank, world_size=self.world_size)
        if self.position["stream_state"] is not None:
            ds.load_state_dict(self.position["stream_state"])
        return ds

    def __iter__(self):
        columns = self.table.columns
        while True:
            ds = self.stream()
            rows = iter(ds)
            emitted = False
            while True:
                examples = list(itertools.islice(self._examples(rows, columns), self.buffer_size))
                if not examples:
                    break
                batches = self.group(examples)
                for number in range(self.position["batches_done"], len(batches)):
                    self.position["batches_done"] = number + 1
                    emitted = True
                    yield batches[number]
                self.position.update(stream_state=copy.deepcopy(ds.state_dict()), buffer=self.position["buffer"] + 1,
                                     batches_done=0)
            if not emitted and self.position["stream_state"] is None:
                raise DataError(f"{self.table.path}: process {self.rank} of {self.world_size} got no training row"
                                " (the file has fewer kept rows than processes)")
            self.position = {"epoch": self.position["epoch"] + 1, "stream_state": None, "buffer": 0,
                             "batches_done": 0}

    def _examples(self, rows, columns):
        """Kept (text, label id) pairs, one by one, from the rows of the stream."""
        rules = self.rules
        for row in rows:
            texts, labels = rules.clean({name: [cell_text(row[name])] for name in columns})
            if not texts:
                continue
            label_id = rules.label_ids.get(labels[0])
            if label_id is None:
                raise DataError(f"{self.table.path}: column {rules.label_column!r}: label {labels[0]!r} is not one"
                                f" of {rules.label_names} (the classes found when the vocabulary was fitted;"
                                " pass --label_names)")
            yield texts[0], label_id

    def group(self, examples):
        """Padded batches of one buffer: shuffled, sorted by length, cut, batch order shuffled."""
        encodings = self.tokenizer.encode_batch([text for text, _ in examples])
        lengths = torch.tensor([len(e.ids) for e in encodings])
        g = torch.Generator().manual_seed(hash_seed(self.seed, self.position["epoch"], self.position["buffer"]))
        perm = torch.randperm(len(examples), generator=g)
        order = perm[torch.sort(lengths[perm], stable=True).indices].tolist()
        cut = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        full = [b for b in cut if len(b) == self.batch_size]
        short = [b for b in cut if len(b) < self.batch_size]
        cut = [full[i] for i in torch.randperm(len(full), generator=g).tolist()] + short
        return [collate_batch([{"input_ids": encodings[i].ids, "label": examples[i][1]} for i in batch],
                              self.pad_token_id) for batch in cut]


def hash_seed(*numbers):
    """One 63-bit seed from several integers (the same on every machine, unlike ``hash``)."""
    value = 0
    for n in numbers:
        value = (value * 1_000_003 + int(n)) % (2**63 - 1)
    return value
