"""Accuracy against peers on real data: our BiLSTM (through scripts/train.py) vs TF-IDF and fastText.

For each setting of ``bench/bench_data.py`` (fakenews, tutorial, liar, constraint) and each seed,
``scripts/train.py`` trains our BiLSTM with the project's default hyper-parameters; only the data
paths, ``--text_column text --label_column label``, ``--seed`` and ``--output_dir`` are passed
(``--quick`` also passes ``--num_train_epochs``). Test accuracy, macro-F1, weighted-F1 and
``train_runtime`` come from each run's ``all_results.json``. In the same invocation the peers of
``bench/peers.py`` (TF-IDF + LogisticRegression, TF-IDF + LinearSVC, fastText) train on the same
train split with the same seeds. Nothing is tuned on a test set: our model keeps the weights with
the lowest validation loss, the peers use fixed settings.

Each training run is a subprocess with ``OMP_NUM_THREADS=1``, at most ``--jobs`` (default 2) at a
time; its log is ``<run dir>/train.log``.

    python bench/bench_accuracy.py                      # 4 settings x seeds 1 2 3 (8 min on 2 cores)
    python bench/bench_accuracy.py --quick              # smoke check: fakenews + tutorial, seed 1, 2 epochs (1 min)
    python bench/bench_accuracy.py --settings liar --seeds 1 2 3
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.bench_data import SETTINGS, materialize
from bench.common import REPO_ROOT, TRAIN_SCRIPT, environment, fmt_mean_sd, mean_sd, model_defaults, \
    train_defaults, write_json
from bench.peers import PEERS, run_peers
from modeling.source import CONFIG_FILE

QUICK_SETTINGS, QUICK_SEEDS, QUICK_EPOCHS = ("fakenews", "tutorial"), (1,), 2
# Published results on the same data, shown next to the comparable model of our table.
PUBLISHED = {
    ("tutorial", "bilstm"): "tutorial's BiLSTM: acc 0.7753",
    ("liar", "bilstm"): "Wang 2017: Bi-LSTM acc 0.233, CNN acc 0.270",
    ("constraint", "tfidf_linearsvc"): "Patwa et al. 2021: SVM weighted-F1 0.9332",
}
MODEL_NAMES = {"bilstm": "BiLSTM (ours)", "tfidf_logreg": "TF-IDF + LogisticRegression",
               "tfidf_linearsvc": "TF-IDF + LinearSVC", "fasttext": "fastText"}


def train_command(paths, seed, output_dir, epochs=None, extra=()) -> list:
    """The ``scripts/train.py`` command line for one run (project defaults for everything not in ``extra``)."""
    cmd = [sys.executable, str(TRAIN_SCRIPT), "--train_file", paths["train"],
           "--validation_file", paths["valid"], "--test_file", paths["test"],
           "--text_column", "text", "--label_column", "label", "--seed", str(seed),
           "--output_dir", str(output_dir)]
    return cmd + (["--num_train_epochs", str(epochs)] if epochs else []) + list(extra)


def run_train_script(cmd, run_dir, what):
    """Run ``cmd`` (a ``scripts/train.py`` command) with one thread, its log in ``run_dir/train.log``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    with open(Path(run_dir) / "train.log", "w") as log:
        proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{what}: train.py exited {proc.returncode}; see {Path(run_dir) / 'train.log'}")


def run_bilstm(setting, paths, seed, run_dir: Path, epochs=None, reuse=False, extra=()) -> dict:
    """Train one seed through ``scripts/train.py`` in a subprocess; return its test scores."""
    results_file = run_dir / "all_results.json"
    cmd = train_command(paths, seed, run_dir, epochs, extra)
    started = time.perf_counter()
    if not (reuse and results_file.is_file()):
        shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run: train.py refuses a folder holding a model
        run_dir.mkdir(parents=True)
        run_train_script(cmd, run_dir, f"{setting} seed {seed}")
    res = json.loads(results_file.read_text())
    return {
        "setting": setting, "model": "bilstm", "seed": seed, "run_dir": str(run_dir),
        "command": " ".join(cmd[1:]), "process_wall_s": time.perf_counter() - started,
        "accuracy": res["test_accuracy"], "macro_f1": res["test_macro_f1"],
        "weighted_f1": res["test_weighted_f1"], "train_s": res["train_runtime"],
        "train_samples_per_second": res["train_samples_per_second"],
        "train_precision": res.get("train_precision", "fp32"),  # result files without the key are fp32 runs
        "best_global_step": res["best_global_step"], "global_step": res["global_step"],
        "stop_reason": res.get("stop_reason"),  # absent from result files of runs without early stopping
        "valid_accuracy": res["eval_accuracy"], "valid_loss": res["eval_loss"],
        **{k: v for k, v in res.items() if k.startswith("pretrained_embeddings_")},
        "training_args": json.loads((run_dir / "training_args.json").read_text()),
        "model_config": {k: v for k, v in json.loads((run_dir / CONFIG_FILE).read_text()).items()
                         if k != "label_names"},
    }


def summarize(rows, settings) -> list:
    """One entry per (setting, model): mean and sd of the scores over seeds."""
    out = []
    for setting in settings:
        for model in ("bilstm", *PEERS):
            rs = [r for r in rows if r["setting"] == setting and r["model"] == model and "skipped" not in r]
            if not rs:
                continue
            entry = {"setting": setting, "model": model, "seeds": [r["seed"] for r in rs],
                     "published": PUBLISHED.get((setting, model))}
            for key in ("accuracy", "macro_f1", "weighted_f1", "train_s", "valid_loss",
                        "pretrained_embeddings_vocab_coverage", "pretrained_embeddings_token_coverage"):
                if all(key in r for r in rs):
                    entry[key], entry[key + "_sd"] = mean_sd(r[key] for r in rs)
                    entry[key + "_values"] = [r[key] for r in rs]
            out.append(entry)
    return out


def markdown_table(summary) -> str:
    lines = ["| setting | model | test acc (mean ± sd) | macro-F1 | weighted-F1 | train time (s) | published |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in summary:
        lines.append(
            f"| {s['setting']} | {MODEL_NAMES[s['model']]} | {fmt_mean_sd(s['accuracy_values'])} | "
            f"{fmt_mean_sd(s['macro_f1_values'])} | {fmt_mean_sd(s['weighted_f1_values'])} | "
            f"{s['train_s']:.1f} | {s['published'] or ''} |")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--settings", nargs="+", choices=SETTINGS, help="settings (default: all four)")
    ap.add_argument("--seeds", nargs="+", type=int, help="seeds (default: 1 2 3)")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke check: {' + '.join(QUICK_SETTINGS)}, seed 1, {QUICK_EPOCHS} epochs (< 5 min)")
    ap.add_argument("--jobs", type=int, default=2, help="training runs at once, 1 thread each (default: 2)")
    ap.add_argument("--no_peers", dest="peers", action="store_false", help="train only our BiLSTM")
    ap.add_argument("--train_args", default="",
                    help="extra scripts/train.py flags for every BiLSTM run, one string, e.g. "
                         "'--pretrained_embeddings glove-6b-50d --freeze_embeddings'")
    ap.add_argument("--tag", default=None,
                    help="name of this variant: runs go to <work_root>/runs/<tag>/, results to accuracy_<tag>.json")
    ap.add_argument("--reuse_runs", action="store_true",
                    help="keep a run whose all_results.json exists instead of training it again")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--work_root", default="bench/.work",
                    help="materialised CSVs and run folders (default: bench/.work)")
    ap.add_argument("--output_dir", default="bench/results", help="folder for accuracy[_quick].json")
    args = ap.parse_args(argv)
    args.settings = args.settings or list(QUICK_SETTINGS if args.quick else SETTINGS)
    args.seeds = args.seeds or list(QUICK_SEEDS if args.quick else (1, 2, 3))
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    work_root = Path(args.work_root) if Path(args.work_root).is_absolute() else REPO_ROOT / args.work_root
    runs_root = work_root / ("runs_quick" if args.quick else "runs")
    runs_root = runs_root / args.tag if args.tag else runs_root
    extra = shlex.split(args.train_args)
    epochs = QUICK_EPOCHS if args.quick else None
    paths = {s: materialize(s, args.data_dir, work_root / s) for s in args.settings}
    report = {"environment": environment(), "quick": args.quick, "settings": args.settings,
              "seeds": args.seeds, "train_defaults": train_defaults(), "model_defaults": model_defaults(),
              "epochs_override": epochs, "tag": args.tag, "train_args": extra, "rows": []}
    t0 = time.perf_counter()
    if args.peers:  # first and alone, so the BiLSTM runs do not slow their timings
        print("peers:")
        peer_rows = run_peers(args.settings, args.seeds, args.data_dir, work_root)
        report["rows"] += [{**{k: v for k, v in r.items() if k != "peer"}, "model": r["peer"]} for r in peer_rows]
    jobs = [(s, seed) for s in args.settings for seed in args.seeds]
    print(f"BiLSTM: {len(jobs)} runs of scripts/train.py, {args.jobs} at a time, logs in {runs_root}/<setting>/seed<S>/")

    def one(job):
        setting, seed = job
        row = run_bilstm(setting, paths[setting], seed, runs_root / setting / f"seed{seed}", epochs,
                         args.reuse_runs, extra)
        print(f"  {setting:10s} bilstm           seed {seed}: acc {row['accuracy']:.4f}  "
              f"macro-F1 {row['macro_f1']:.4f}  valid loss {row['valid_loss']:.4f}  train {row['train_s']:.1f}s",
              flush=True)
        return row

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        report["rows"] += list(pool.map(one, jobs))
    report["wall_s"] = time.perf_counter() - t0
    report["summary"] = summarize(report["rows"], args.settings)
    report["environment_at_end"] = {"load_avg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()]}
    table = markdown_table(report["summary"])
    print("\n" + table)
    name = "accuracy_quick" if args.quick else "accuracy"
    out = write_json(report, args.output_dir, f"{name}_{args.tag}.json" if args.tag else f"{name}.json")
    print(f"\nwall {report['wall_s']:.0f}s; wrote {out}")
    return report


if __name__ == "__main__":
    main()
