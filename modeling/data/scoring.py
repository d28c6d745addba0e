"""Batch scoring of any number of texts on every process Accelerate gives: ``scripts/predict.py``'s engine.

    accelerate launch scripts/predict.py --model_name_or_path outputs/news --input_file big.csv \\
        --output_file predictions.parquet

The input is read in chunks (:class:`modeling.data.streaming.TextSource`); every process reads the
same chunk and classifies its contiguous share (``PartialState.split_between_processes``); the main
process gathers the shares in rank order, which is input order, and appends them to the output. Only
one chunk is ever held, so memory stays flat whatever the input size.

Resume. The output is written to a hidden partial file next to it (``.NAME.partial``; a folder of
Parquet parts for ``.parquet``), and after each chunk is on disk (flushed and fsync'ed) the main
process records in ``.NAME.progress.json`` the rows done, the partial file's length and what the job
is (input file, its size and modification time, model, options). ``--resume`` after a kill reads that
record, checks it describes the same job, cuts the partial file back to the recorded length (a chunk
half-written when the job died is dropped) and goes on from the next row. The finished output is
renamed into place in one step and the record removed, so ``NAME`` is either absent or complete.
"""

import json
import os
import shutil
import sys
from pathlib import Path

from accelerate import PartialState
from accelerate.utils import broadcast_object_list, gather_object
from tqdm.auto import tqdm

from ..utils import atomic_path, atomic_write_json

OUTPUT_SUFFIXES = (".csv", ".jsonl", ".parquet")
DEFAULT_CHUNK_SIZE = 4096  # texts read, classified and written at a time: the resume granularity


def side_files(output_file):
    """(partial output, progress record) of ``output_file``: hidden files in its folder."""
    output_file = Path(output_file)
    return (output_file.with_name(f".{output_file.name}.partial"),
            output_file.with_name(f".{output_file.name}.progress.json"))


# ----------------------------------------------------------------------------- output formats
class PredictionWriter:
    """Appends predictions to a partial output; ``length()`` is what :meth:`truncate` restores."""

    def __init__(self, path, columns, label_names):
        self.path, self.label_names = Path(path), list(label_names)
        self.input_columns = list(columns)
        self.index_name = "input_index" if "index" in columns else "index"
        self.label_name = "predicted_label" if "label" in columns else "label"
        self.fields = [self.index_name, *columns, self.label_name, "score", "skipped",
                       *(f"prob_{name}" for name in label_names)]

    def rows(self, chunk, predictions):
        """The output rows of a chunk: index, input columns, label, score, skipped reason, probabilities."""
        columns = [chunk.columns[name] for name in self.input_columns]
        for i, (values, pred) in enumerate(zip(zip(*columns), predictions)):
            probs = ([pred["scores"][name] for name in self.label_names] if pred["scores"]
                     else [None] * len(self.label_names))
            yield [chunk.start + i, *values, pred["label"], pred["score"], pred.get("skipped", ""), *probs]


class _AppendedFile(PredictionWriter):
    """CSV or JSON lines: rows appended to one partial file; its byte length marks what is done."""

    def open(self, length):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if length:
            with open(self.path, "r+b") as f:
                f.truncate(length)
        self.file = open(self.path, "ab" if length else "wb")
        if not length:
            self.start()

    def start(self):
        pass

    def sync(self):
        self.file.flush()
        os.fsync(self.file.fileno())
        return self.file.tell()

    def finish(self, output_file):
        self.file.close()
        os.replace(self.path, output_file)

    def close(self):
        self.file.close()


class CsvWriter(_AppendedFile):
    def start(self):
        self.write_lines([self.fields])

    def write(self, chunk, predictions):
        self.write_lines([["" if v is None else v for v in row] for row in self.rows(chunk, predictions)])

    def write_lines(self, rows):
        import csv
        import io

        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerows(rows)
        self.file.write(buffer.getvalue().encode("utf-8"))


class JsonlWriter(_AppendedFile):
    def write(self, chunk, predictions):
        lines = [json.dumps({"index": chunk.start + i, "text": text, **pred}, ensure_ascii=False) + "\n"
                 for i, (text, pred) in enumerate(zip(chunk.texts, predictions))]
        self.file.write("".join(lines).encode("utf-8"))


class ParquetWriter(PredictionWriter):
    """Parquet: each chunk a part file in a partial folder (a Parquet file is readable only once
    closed); :meth:`finish` joins the parts into one file, a few parts per row group."""

    ROWS_PER_GROUP = 65536

    def open(self, length):
        if length == 0 and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        for part in self.parts()[length:]:  # parts written after the last record: not counted as done
            part.unlink()
        self.count = length

    def parts(self):
        return sorted(self.path.glob("part-*.parquet"))

    def schema(self):
        import pyarrow as pa

        return pa.schema([(self.index_name, pa.int64()), *((c, pa.string()) for c in self.input_columns),
                          (self.label_name, pa.string()), ("score", pa.float64()), ("skipped", pa.string()),
                          *((f"prob_{name}", pa.float64()) for name in self.label_names)])

    def write(self, chunk, predictions):
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = list(zip(*self.rows(chunk, predictions)))
        table = pa.Table.from_arrays([pa.array(list(c), type=f.type) for c, f in zip(columns, self.schema())],
                                     schema=self.schema())
        part = self.path / f"part-{self.count:08d}.parquet"
        with atomic_path(part) as tmp:
            pq.write_table(table, tmp)
        self.count += 1

    def sync(self):
        return self.count

    def finish(self, output_file):
        import pyarrow as pa
        import pyarrow.parquet as pq

        with atomic_path(output_file) as tmp:
            with pq.ParquetWriter(tmp, self.schema()) as writer:
                pending = []
                for part in self.parts():
                    pending.append(pq.read_table(part))
                    if sum(t.num_rows for t in pending) >= self.ROWS_PER_GROUP:
                        writer.write_table(pa.concat_tables(pending))
                        pending = []
                if pending:
                    writer.write_table(pa.concat_tables(pending))
        shutil.rmtree(self.path)

    def close(self):
        pass


WRITERS = {".csv": CsvWriter, ".jsonl": JsonlWriter, ".parquet": ParquetWriter}


# ----------------------------------------------------------------------------- the job
class ScoringJob:
    """One scoring run to ``output_file`` (``None``: JSON lines on standard output, nothing to
    resume). ``identity`` is what a resumed run must share with the one it continues (input file
    and its stamp, model, options): any difference is refused."""

    def __init__(self, output_file, identity, *, chunk_size=DEFAULT_CHUNK_SIZE, resume=False):
        self.output_file = Path(output_file) if output_file else None
        self.identity, self.chunk_size, self.resume = identity, chunk_size, resume
        if self.output_file is not None:
            self.partial, self.progress = side_files(self.output_file)

    def rows_done(self):
        """Where this job starts: 0, or with ``--resume`` the rows an earlier run recorded (checked
        to be the same job). An unfinished earlier run without ``--resume`` is refused, so that
        hours of work are not thrown away by a re-run."""
        if self.output_file is None or not self.progress.is_file():
            return 0, 0
        record = json.loads(self.progress.read_text(encoding="utf-8"))
        if not self.resume:
            raise ValueError(f"{self.output_file}: an earlier run stopped after {record['rows_done']:,} rows"
                             f" (recorded in {self.progress}); pass --resume to go on from there, or delete"
                             f" {self.progress} and {self.partial} to start over")
        differs = [key for key in sorted(set(record["identity"]) | set(self.identity))
                   if record["identity"].get(key) != self.identity.get(key)]
        if differs:
            raise ValueError(f"--resume: {self.progress} records another job (it differs in {', '.join(differs)});"
                             f" rerun it as it was, or delete {self.progress} and {self.partial} to start over")
        if not self.partial.exists():
            raise ValueError(f"--resume: {self.partial}, the partial output {self.progress} records, is gone;"
                             f" delete {self.progress} to start over")
        return record["rows_done"], record["length"]

    def record(self, rows_done, length):
        atomic_write_json(self.progress, {"identity": self.identity, "rows_done": rows_done, "length": length,
                                          "chunk_size": self.chunk_size})


def score(predict, source, job, *, label_names, print_record=None):
    """Classify every text of ``source`` on all processes and write the predictions in input order.

    Args:
        predict: ``f(texts) -> [prediction dict, ...]`` (a model's ``predict`` with its options).
        source: a :class:`modeling.data.streaming.TextSource`.
        job: a :class:`ScoringJob`.
        label_names: the model's labels (the ``prob_<label>`` columns).
        print_record: without an output file, called with each JSON-able record (main process).

    Returns:
        (rows in the output, rows classified by this run, rows of this run that the short-text rule
        left without a label).
    """
    state = PartialState()
    start, length, error = 0, 0, None
    if state.is_main_process:
        try:
            start, length = job.rows_done()
        except ValueError as err:  # raised on every process below: none is left waiting for the others
            error = str(err)
    if state.num_processes > 1:
        start, length, error = broadcast_object_list([start, length, error])
    if error:
        raise ValueError(error)
    writer = None
    if job.output_file is not None and state.is_main_process:
        writer = WRITERS[job.output_file.suffix.lower()](job.partial, source.columns, label_names)
        writer.open(length)
        if start:
            print(f"resuming {job.output_file} after row {start:,} (--resume)", file=sys.stderr, flush=True)
    total, skipped = start, 0  # rows in the output; this run's rows without a label
    # disable=None: a bar on a terminal, none in a log or a pipe (the script prints the rate at the end).
    bar = tqdm(total=source.num_rows, initial=start, unit="texts", unit_scale=True, desc="Scoring",
               disable=None if state.is_main_process else True)
    try:
        for chunk in source.chunks(job.chunk_size, start):
            with state.split_between_processes(chunk.texts) as mine:
                predictions = predict(mine)
            predictions = gather_object(predictions) if state.num_processes > 1 else predictions
            total += len(chunk)
            skipped += sum(pred["label"] is None for pred in predictions)
            if writer is not None:
                writer.write(chunk, predictions)
                job.record(total, writer.sync())
            elif state.is_main_process and print_record is not None:
                for i, pred in enumerate(predictions):
                    print_record(chunk, i, pred)
            bar.update(len(chunk))
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    if writer is not None and total == 0:  # nothing to write: no empty output, no record
        shutil.rmtree(job.partial) if job.partial.is_dir() else job.partial.unlink()
        job.progress.unlink(missing_ok=True)
    elif writer is not None:
        writer.finish(job.output_file)
        job.progress.unlink()
    state.wait_for_everyone()
    return total, total - start, skipped
