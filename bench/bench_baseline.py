"""What the baseline every run fits costs (the goal: seconds, not minutes, at 100,000 rows).

``modeling.training.baseline.baseline_scores`` (TF-IDF word 1-2-grams + LogisticRegression, newton-cg)
on 100,000 rows: 90,000 to fit, 5,000 validation and 5,000 test rows scored, as ``train()`` calls it.
There is no 100,000-row labelled set in ``../shared/data``, so two are built from it (seeded):

* ``sentences``: 4 classes, ~22 words a row: the first half of one MR / Subj / SST-2 train sentence
  and the second half of another, labelled as the first (negative, positive, subjective, objective);
* ``articles``: 2 classes, ~180 words a row: 200-word windows of the fake_or_real_news full texts
  (valid and test articles), labelled as their article.

Each variant is timed ``--repeats`` times, interleaved (the machine is shared); wall and CPU seconds
and the process's peak RSS are reported. Also, for the solver choice, sklearn's default lbfgs on the
same features (``--solvers``).

CLI::

    python bench/bench_baseline.py --rows 100000 --repeats 2
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import random
import time
from pathlib import Path

import datasets
import pandas as pd

from bench.bench_data import DEFAULT_DATA_DIR
from bench.common import environment, peak_rss_mb, write_json
from modeling.data.splits import Splits
from modeling.training import baseline


def read(path):
    if not Path(path).is_file():
        raise SystemExit(f"{path}: not found (pass --data_dir, the shared data folder)")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def sentences(data_dir, n, seed=1):
    folder = Path(data_dir) / "sentence_benchmarks"
    rows = [(t, l) for d in ("mr", "subj", "sst2") for t, l in zip(*map(read(folder / d / "train.csv").get,
                                                                       ("text", "label")))]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        (a, label), (b, _) = rng.choice(rows), rng.choice(rows)
        wa, wb = a.split(), b.split()
        out.append((" ".join(wa[: max(1, len(wa) // 2)] + wb[len(wb) // 2:]), label))
    return out


def articles(data_dir, n, seed=1):
    folder = Path(data_dir) / "fake_or_real_news" / "fulltext_valid_test"
    frames = [read(folder / f"{s}.csv") for s in ("valid", "test")]
    docs = [(t.split(), l) for f in frames for t, l in zip(f["titletext"], f["label"])]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words, label = rng.choice(docs)
        start = rng.randrange(max(1, len(words) - 200))
        out.append((" ".join(words[start:start + 200]), label))
    return out


def as_splits(rows):
    """90% train, 5% validation, 5% test, as ``train()`` hands them to the baseline."""
    names = sorted({label for _, label in rows})
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    cut = [0, int(0.9 * len(rows)), int(0.95 * len(rows)), len(rows)]
    parts = {}
    for name, lo, hi in zip(("train", "validation", "test"), cut, cut[1:]):
        part = rows[lo:hi]
        parts[name] = datasets.Dataset.from_dict({"text": [t for t, _ in part], "label": [l for _, l in part]},
                                                 features=features)
    return Splits(parts, "text", names)


def time_once(data, solver=None):
    options = dict(baseline.CLASSIFIER_OPTIONS)
    if solver:
        baseline.CLASSIFIER_OPTIONS["solver"] = solver
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        scores = baseline.baseline_scores(data)
        return {**scores, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    finally:
        baseline.CLASSIFIER_OPTIONS.clear()
        baseline.CLASSIFIER_OPTIONS.update(options)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000, help="rows per data set (90%% fit, 10%% scored)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per variant, interleaved")
    ap.add_argument("--solvers", nargs="*", default=[], help="also time these LogisticRegression solvers (lbfgs)")
    ap.add_argument("--data_dir", default=str(DEFAULT_DATA_DIR), help="the shared data folder")
    ap.add_argument("--output_dir", default="bench/results", help="folder for bench_baseline.json")
    args = ap.parse_args(argv)
    data = {"sentences": as_splits(sentences(args.data_dir, args.rows)),
            "articles": as_splits(articles(args.data_dir, args.rows))}
    variants = [(name, solver) for solver in [None, *args.solvers] for name in data]
    rows = []
    for repeat in range(args.repeats):
        for name, solver in variants:
            result = time_once(data[name], solver)
            row = {"data": name, "solver": solver or baseline.CLASSIFIER_OPTIONS["solver"], "repeat": repeat,
                   "rows": args.rows, **result}
            rows.append(row)
            print(f"{name:9s} {row['solver']:9s} #{repeat}: wall {result['wall_s']:6.1f} s, cpu {result['cpu_s']:6.1f} s,"
                  f" valid acc {result.get('baseline_eval_accuracy', float('nan')):.4f},"
                  f" test acc {result.get('baseline_test_accuracy', float('nan')):.4f}", flush=True)
    report = {"rows": rows, "peak_rss_mb": peak_rss_mb(), "environment": environment()}
    print(f"peak RSS {report['peak_rss_mb']:.0f} MB")
    print(f"wrote {write_json(report, args.output_dir, 'bench_baseline.json')}")


if __name__ == "__main__":
    main()
