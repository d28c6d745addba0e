"""Data-pipeline scale: prepare + tokenize a synthetic 1,000,000-row CSV; rows/s and peak memory.

The CSV (``title,text,label``) is written to ``bench/.work/`` with numpy: titles of 8 words,
texts of 150-200 words (shorter than real articles, which run 200-400+, to keep the file near
1 GB; the tutorial trims texts to 200 words anyway) drawn from a Zipf-like 50,000-word vocabulary,
labels REAL/FAKE. It then goes through the same calls as ``scripts/train.py`` given one raw
file: ``read_table`` -> ``clean_table`` (titletext, drop short, trim to 200 words, labels) ->
``split_dataset`` (80/10/10, stratified) -> ``train_tokenizer`` on the train split ->
``encode_dataset`` on every split, each stage timed.

Memory: peak resident set (``ru_maxrss``) and, sampled every 50 ms from ``/proc/self/status``,
the peak of its anonymous part (``RssAnon``: Python objects, Arrow buffers being built). The rest
(``RssFile``) is memory-mapped Arrow cache pages the kernel can drop at will. For scale, the
script also estimates what the same texts and token ids would take as Python lists. A fresh
``datasets`` cache under ``bench/.work/`` is used (and deleted afterwards), so nothing is reused
from an earlier run.

    python bench/bench_pipeline.py                   # 1,000,000 rows (1.2 GB CSV, ~10 GB Arrow cache, deleted after)
    python bench/bench_pipeline.py --quick           # 100,000 rows
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, environment, peak_rss_mb, train_defaults, write_json

WORK = REPO_ROOT / "bench" / ".work"


def write_synthetic_csv(path: Path, rows: int, seed=0, vocab_size=50_000, chunk=20_000) -> float:
    """Write ``rows`` synthetic articles to ``path``; return the seconds it took."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    word_lengths = rng.integers(2, 10, size=vocab_size)
    vocab = np.array(["".join(rng.choice(letters, n)) for n in word_lengths], dtype=object)
    p = 1.0 / np.arange(1, vocab_size + 1) ** 1.1  # Zipf-like word frequencies
    p /= p.sum()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write("title,text,label\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            lengths = rng.integers(150, 201, size=n)
            ids = rng.choice(vocab_size, size=(n, 208), p=p)
            labels = np.where(rng.random(n) < 0.5, "REAL", "FAKE")
            f.write("".join(
                f"{' '.join(vocab[ids[r, :8]])},{' '.join(vocab[ids[r, 8:8 + lengths[r]]])},{labels[r]}\n"
                for r in range(n)))
    os.replace(tmp, path)
    return time.perf_counter() - t0


class MemorySampler:
    """Peak ``VmRSS`` / ``RssAnon`` / ``RssFile`` of this process, sampled in a thread."""

    FIELDS = ("VmRSS", "RssAnon", "RssFile")

    def __init__(self, interval=0.05):
        self.interval, self.peak = interval, dict.fromkeys(self.FIELDS, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> dict:
        out = {}
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in self.FIELDS:
                    out[key] = int(line.split()[1]) / 1024  # kB -> MiB
        return out

    def _run(self):
        while not self._stop.is_set():
            for k, v in self.read().items():
                self.peak[k] = max(self.peak[k], v)
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def python_list_estimate_mb(ds, text_column, sample=10_000) -> float:
    """MiB that texts + token ids would take as Python lists, extrapolated from ``sample`` rows."""
    part = ds.select(range(min(sample, len(ds))))
    total = 0
    for text, ids in zip(part[text_column], part["input_ids"]):
        # str object + list object (8-byte pointers) + int objects (small ints < 257 are shared)
        total += sys.getsizeof(text) + sys.getsizeof(ids) + sum(28 for i in ids if i > 256)
    return total * len(ds) / len(part) / 2**20


def run_pipeline(csv_path: Path, run: dict, log=print) -> dict:
    """Time each stage of the pipeline on ``csv_path``; return timings and counts."""
    from modeling import train_tokenizer
    from modeling.data.batching import as_text_batches, encode_dataset
    from modeling.data.cleaning import clean_table
    from modeling.data.files import read_table
    from modeling.data.splits import split_dataset

    stages = {}

    def stage(name, rows, fn):
        t0 = time.perf_counter()
        out = fn()
        s = time.perf_counter() - t0
        rows = len(out) if rows is None else rows
        stages[name] = {"s": s, "rows": rows, "rows_per_s": rows / s, "peak_rss_mb_so_far": peak_rss_mb()}
        log(f"  {name:16s} {rows:>9,} rows  {s:7.1f} s  {rows / s:>10,.0f} rows/s  "
            f"peak RSS so far {peak_rss_mb():,.0f} MiB")
        return out

    tables = []
    raw = stage("read_table", None, lambda: tables.append(read_table(csv_path, required_columns=["label"]))
                or tables[0].dataset)
    n = len(raw)
    ds, text_column, label_names, stats = stage("clean_table", n, lambda: clean_table(
        tables[0], label_column="label", first_n_words=run["max_length"]))
    splits = stage("split_dataset", len(ds), lambda: split_dataset(ds, 0.8, 0.1, seed=run["seed"]))
    tokenizer = stage("train_tokenizer", len(splits["train"]), lambda: train_tokenizer(
        as_text_batches(splits["train"], text_column), run["min_frequency"], run["max_length"]))
    encoded = stage("encode_dataset", len(ds), lambda: {
        name: encode_dataset(split, tokenizer, text_column) for name, split in splits.items()})
    total = sum(s["s"] for s in stages.values())
    return {"stages": stages, "rows": n, "rows_kept": len(ds), "total_s": total, "rows_per_s": n / total,
            "vocab_size": tokenizer.get_vocab_size(), "label_names": label_names,
            "mean_tokens": float(np.mean(encoded["train"].select(range(min(10_000, len(encoded["train"]))))["length"])),
            "python_lists_estimate_mb": python_list_estimate_mb(encoded["train"], text_column) * len(ds)
            / len(encoded["train"])}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="100,000 rows")
    ap.add_argument("--keep_cache", action="store_true", help="keep the datasets cache folder afterwards")
    ap.add_argument("--output_dir", default="bench/results", help="folder for pipeline_<rows>.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.rows = 100_000
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    need_gb = 13 * args.rows / 1e6  # CSV ~1.2 GB + Arrow cache ~10 GB per million rows
    free_gb = shutil.disk_usage(WORK).free / 1e9
    if free_gb < need_gb:
        raise SystemExit(f"error: {free_gb:.0f} GB free under {WORK}; {args.rows:,} rows need about {need_gb:.0f} GB")
    csv_path = WORK / f"synthetic_{args.rows}.csv"
    gen_s = None
    if not csv_path.is_file():
        print(f"writing {csv_path} ...", flush=True)
        gen_s = write_synthetic_csv(csv_path, args.rows)
    cache = WORK / f"hf_cache_{os.getpid()}"
    os.environ["HF_DATASETS_CACHE"] = str(cache)  # before `datasets` is imported (in run_pipeline)
    import datasets

    datasets.disable_progress_bars()
    report = {"environment": environment(), "csv": str(csv_path), "csv_mb": csv_path.stat().st_size / 2**20,
              "generate_s": gen_s, "train_defaults": train_defaults()}
    print(f"{args.rows:,} rows, {report['csv_mb']:,.0f} MiB CSV; fresh datasets cache {cache}")
    start_rss = MemorySampler().read()
    try:
        with MemorySampler() as mem:
            report.update(run_pipeline(csv_path, report["train_defaults"]))
        report["memory_mb"] = {"start": start_rss, "peak": mem.peak, "ru_maxrss": peak_rss_mb()}
        report["cache_mb"] = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**20
    finally:
        if not args.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)
    m = report["memory_mb"]
    print(f"\n| rows | CSV (MiB) | total (s) | rows/s | peak RSS (MiB) | peak anonymous RSS (MiB; at start) | "
          f"texts + ids as Python lists (est., MiB) |\n| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {report['rows']:,} | {report['csv_mb']:,.0f} | {report['total_s']:.1f} | {report['rows_per_s']:,.0f} | "
          f"{m['ru_maxrss']:,.0f} | {m['peak']['RssAnon']:,.0f} ({m['start']['RssAnon']:,.0f}) | "
          f"{report['python_lists_estimate_mb']:,.0f} |")
    print("\n| stage | rows | s | rows/s |\n| --- | --- | --- | --- |")
    for name, s in report["stages"].items():
        print(f"| {name} | {s['rows']:,} | {s['s']:.1f} | {s['rows_per_s']:,.0f} |")
    out = write_json(report, args.output_dir, f"pipeline_{args.rows}.json")
    print(f"\nArrow cache written: {report['cache_mb']:,.0f} MiB; wrote {out}")
    return report


if __name__ == "__main__":
    main()
