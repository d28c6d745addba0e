"""Learning curves: test accuracy against training rows, our BiLSTM against the peers.

On the sentence benchmarks of the shared data (MR, Subj, TREC, SST-2; ``bench/bench_data.py``'s
``<set>-250``, ``<set>-1000`` and ``<set>`` settings: stratified train samples, seed 1, the given
validation and test splits), for seeds 1-3:

* ``bilstm``: ``scripts/train.py`` with no flag beyond the data (``bench_accuracy.run_bilstm``): with
  the vectors package installed, GloVe and the open vocabulary (``modeling.training.open_vocabulary``);
* ``bilstm_no_vectors``: the same with ``--pretrained_embeddings none`` (a run without the package);
* ``bilstm_glove``: GloVe for the train split's words only (``--vector_vocab_size 0``);
* the peers of ``bench/peers.py``: TF-IDF + LogisticRegression, TF-IDF + LinearSVC, fastText,
  frozen MiniLM + LogisticRegression.

``--validation quarter`` samples the validation split to a quarter of the train rows
(``bench_data.quarter_validation``) and writes ``curves_quarter.json``.

Writes ``bench/results/curves.json``, prints the table of ``docs/BENCHMARKS.md`` and draws
``docs/learning_curves.png``. Each BiLSTM run is a subprocess with one thread, ``--jobs`` at a time.

    python bench/bench_curves.py                         # 4 sets x 3 sizes x 3 seeds x 5 models
    python bench/bench_curves.py --sets trec --seeds 1   # one set, one seed
    python bench/bench_curves.py --plot_only             # table and plot from curves.json
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.bench_accuracy import run_bilstm
from bench.bench_data import CURVE_SETS, CURVE_SIZES, materialize, quarter_validation
from bench.common import REPO_ROOT, environment, fmt_mean_sd, mean_sd, model_defaults, train_defaults, write_json
from bench.peers import PEERS, run_peers

VARIANTS = {"bilstm": [], "bilstm_no_vectors": ["--pretrained_embeddings", "none"],
            "bilstm_glove": ["--pretrained_embeddings", "glove-6b-50d", "--vector_vocab_size", "0"]}
MODELS = (*VARIANTS, *PEERS)
MODEL_NAMES = {"bilstm": "BiLSTM (defaults)", "bilstm_no_vectors": "BiLSTM, no vectors",
               "bilstm_glove": "BiLSTM + GloVe, train words", "tfidf_logreg": "TF-IDF + LR",
               "tfidf_linearsvc": "TF-IDF + SVC", "fasttext": "fastText", "minilm_logreg": "MiniLM + LR"}
# harvardnlp/sent-conv-torch's re-run of Kim (2014), test accuracy (sentence_benchmarks/PROVENANCE.md).
CNN_RAND = {"mr": 0.759, "subj": 0.892, "trec": 0.882, "sst2": 0.835}
SET_NAMES = {"mr": "MR", "subj": "Subj", "trec": "TREC", "sst2": "SST-2"}
RESULTS_FILE = "curves.json"
PLOT_FILE = REPO_ROOT / "docs" / "learning_curves.png"


def setting_name(name, size):
    return name if size is None else f"{name}-{size}"


def summarize(rows) -> list:
    """Mean and sd of test accuracy per (set, size, model), with the mean number of train rows."""
    out = []
    for key in dict.fromkeys((r["set"], r["size"], r["model"]) for r in rows):
        rs = [r for r in rows if (r["set"], r["size"], r["model"]) == key and "skipped" not in r]
        if not rs:
            continue
        entry = {"set": key[0], "size": key[1], "model": key[2], "seeds": [r["seed"] for r in rs],
                 "n_train": rs[0]["n_train"], "accuracy_values": [r["accuracy"] for r in rs]}
        entry["accuracy"], entry["accuracy_sd"] = mean_sd(entry["accuracy_values"])
        for extra in ("global_step", "best_global_step", "train_s"):
            if all(extra in r for r in rs):
                entry[extra] = mean_sd(r[extra] for r in rs)[0]
        out.append(entry)
    return out


def markdown_table(summary) -> str:
    models = [m for m in MODELS if any(s["model"] == m for s in summary)]
    lines = ["| set | train rows | " + " | ".join(MODEL_NAMES[m] for m in models) + " | CNN-rand (published) |",
             "| --- | --- | " + " | ".join("---" for _ in models) + " | --- |"]
    cells = {(s["set"], s["size"], s["model"]): s for s in summary}
    for name in dict.fromkeys(s["set"] for s in summary):
        for size in CURVE_SIZES:
            here = [cells.get((name, size, m)) for m in models]
            if not any(here):
                continue
            best = max(c["accuracy"] for c in here if c)
            row = [SET_NAMES[name], f"{next(c for c in here if c)['n_train']:,}"]
            for c in here:
                text = fmt_mean_sd(c["accuracy_values"]) if c else ""
                row.append(f"**{text}**" if c and c["accuracy"] == best else text)
            row.append(f"{CNN_RAND[name]:.3f}" if size is None else "")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def goals(summary) -> list:
    """The goals of issue 28, checked on the means over seeds: one ``(goal, set, size, ours, target, met)``
    per check: the defaults >= TF-IDF + LR at every size, and within 3 points of MiniLM + LR at
    250 and 1,000 rows."""
    cells = {(s["set"], s["size"], s["model"]): s["accuracy"] for s in summary}
    out = []
    for (name, size, model), acc in cells.items():
        if model != "bilstm":
            continue
        lr, minilm = cells.get((name, size, "tfidf_logreg")), cells.get((name, size, "minilm_logreg"))
        if lr is not None:
            out.append(("defaults >= TF-IDF + LR", name, size, acc, lr, acc >= lr))
        if minilm is not None and size is not None:
            out.append(("defaults >= MiniLM + LR - 3 points", name, size, acc, minilm - 0.03, acc >= minilm - 0.03))
    return out


def goals_table(checks) -> str:
    lines = ["| goal | set | train rows | ours | target | met |", "| --- | --- | --- | --- | --- | --- |"]
    for goal, name, size, ours, target, met in checks:
        lines.append(f"| {goal} | {name} | {size or 'full'} | {ours:.4f} | {target:.4f} |"
                     f" {'yes' if met else '**no**'} |")
    met = sum(c[-1] for c in checks)
    return "\n".join(lines + [f"\n{met} of {len(checks)} checks met"])


def plot(summary, path=PLOT_FILE):
    """Accuracy (mean ± sd over seeds) against training rows, one panel per set, log x axis."""
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(s["set"] for s in summary))
    fig = Figure(figsize=(3.2 * len(names), 3.4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for model in MODELS:
            pts = sorted((s["n_train"], s["accuracy"], s["accuracy_sd"]) for s in summary
                         if s["set"] == name and s["model"] == model)
            if pts:
                x, y, e = zip(*pts)
                ax.errorbar(x, y, yerr=e, marker="o", ms=3, capsize=2, label=MODEL_NAMES[model],
                            lw=2 if model.startswith("bilstm") else 1)
        full = [s["n_train"] for s in summary if s["set"] == name and s["size"] is None]
        if full:  # a full-size result: at the full train split only
            ax.plot([max(full)], [CNN_RAND[name]], "k*", ms=8, label="CNN-rand (published)")
        ax.set_xscale("log")
        ticks = sorted({s["n_train"] for s in summary if s["set"] == name and s["model"] in PEERS}
                       or {s["n_train"] for s in summary if s["set"] == name})  # the peers read every row
        ax.minorticks_off()
        ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
        ax.set_title(SET_NAMES[name])
        ax.set_xlabel("training rows")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(fontsize=7, loc="lower right")
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def plot_file(args):
    path = Path(args.plot_file) if args.plot_file else PLOT_FILE
    return path if args.validation == "given" else path.with_name(f"{path.stem}_quarter.png")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", choices=CURVE_SETS, default=list(CURVE_SETS))
    ap.add_argument("--sizes", nargs="+", default=["250", "1000", "full"], choices=["250", "1000", "full"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--validation", choices=["given", "quarter"], default="given",
                    help="the given validation split, or one sampled to a quarter of the train rows")
    ap.add_argument("--plot_file", help=f"where the plot goes (default {PLOT_FILE.relative_to(REPO_ROOT)})")
    ap.add_argument("--jobs", type=int, default=2, help="training runs at once, 1 thread each (default: 2)")
    ap.add_argument("--reuse_runs", action="store_true",
                    help="keep a run whose all_results.json exists instead of training it again")
    ap.add_argument("--plot_only", action="store_true", help="only redo the table and plot from curves.json")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="with --plot_only: first merge the rows of these curves.json files (runs of other models,"
                         " e.g. one invocation per model) into <output_dir>/curves.json")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--work_root", default="bench/.work", help="CSVs and run folders (default: bench/.work)")
    ap.add_argument("--output_dir", default="bench/results", help="folder for curves.json")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    out_dir = Path(args.output_dir) if Path(args.output_dir).is_absolute() else REPO_ROOT / args.output_dir
    results_file = RESULTS_FILE if args.validation == "given" else "curves_quarter.json"
    if args.plot_only:
        if args.merge:
            parts = [json.loads(Path(f).read_text()) for f in args.merge]
            rows = [r for part in parts for r in part["rows"]]
            report = {**parts[0], "rows": rows, "summary": summarize(rows), "goals": goals(summarize(rows)),
                      "merged_from": [{"file": str(f), "environment": part["environment"], "wall_s": part.get("wall_s")}
                                      for f, part in zip(args.merge, parts)]}
            write_json(report, out_dir, results_file)
        report = json.loads((out_dir / results_file).read_text())
        print(markdown_table(report["summary"]))
        print("\n" + goals_table(goals(report["summary"])))
        print(f"wrote {plot(report['summary'], plot_file(args))}")
        return report
    work_root = Path(args.work_root) if Path(args.work_root).is_absolute() else REPO_ROOT / args.work_root
    sizes = [None if s == "full" else int(s) for s in args.sizes]
    settings = [(name, size, setting_name(name, size)) for name in args.sets for size in sizes]
    paths = {st: materialize(st, args.data_dir, work_root / st) for _, _, st in settings}
    if args.validation == "quarter":
        paths = {st: quarter_validation(p, work_root / st) for st, p in paths.items()}
    report = {"environment": environment(), "sets": args.sets, "sizes": args.sizes, "seeds": args.seeds,
              "validation": args.validation,
              "train_defaults": train_defaults(), "model_defaults": model_defaults(), "variants": VARIANTS,
              "rows": []}
    t0 = time.perf_counter()
    peers = [m for m in args.models if m in PEERS]
    where = {st: (name, size) for name, size, st in settings}
    if peers:  # first and alone, so the BiLSTM runs do not slow their timings
        for r in run_peers([st for *_, st in settings], args.seeds, args.data_dir, work_root, peers):
            name, size = where[r["setting"]]
            report["rows"].append({**{k: v for k, v in r.items() if k != "peer"}, "model": r["peer"],
                                   "set": name, "size": size})
    jobs = [(st, model, seed) for *_, st in settings for model in args.models if model in VARIANTS
            for seed in args.seeds]

    def one(job):
        st, model, seed = job
        run_dir = work_root / "runs" / f"curves_{args.validation}" / model / st / f"seed{seed}"
        row = run_bilstm(st, paths[st], seed, run_dir, reuse=args.reuse_runs, extra=VARIANTS[model])
        name, size = where[st]
        row.update(model=model, set=name, size=size, n_train=_train_rows(row))
        print(f"  {st:10s} {model:17s} seed {seed}: acc {row['accuracy']:.4f}  step {row['best_global_step']}"
              f"/{row['global_step']}  train {row['train_s']:.1f}s", flush=True)
        return row

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        report["rows"] += list(pool.map(one, jobs))
    report["wall_s"] = time.perf_counter() - t0
    report["summary"] = summarize(report["rows"])
    report["environment_at_end"] = {"load_avg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()]}
    report["goals"] = goals(report["summary"])
    print("\n" + markdown_table(report["summary"]))
    print("\n" + goals_table(report["goals"]))
    print(f"\nwall {report['wall_s']:.0f}s; wrote {write_json(report, out_dir, results_file)}")
    if set(args.sets) == set(CURVE_SETS):
        print(f"wrote {plot(report['summary'], plot_file(args))}")
    return report


def _train_rows(row):
    return json.loads((Path(row["run_dir"]) / "all_results.json").read_text())["train_samples"]


if __name__ == "__main__":
    main()
