"""Choose the open vocabulary's rule on validation: variants of ``scripts/train.py`` on the sentence sets.

Each variant is a set of ``train.py`` flags; each run trains on ``<set>-<size>`` (``bench/bench_data.py``)
with the validation split at its given size (``given``) or sampled to a quarter of the train rows
(``quarter``: stratified, ``random_state=1``, as a user with few rows would have). No test split is
read: the table shows the best validation loss and the validation accuracy of the kept model.

    python bench/bench_open_vocab.py --variants train_words k10k k40k kall --sizes 250 1000 --seeds 1
    python bench/bench_open_vocab.py --table_only          # the table from open_vocab.json
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.bench_accuracy import run_train_script
from bench.bench_data import CURVE_SETS, materialize, quarter_validation
from bench.common import REPO_ROOT, TRAIN_SCRIPT, environment, mean_sd, write_json

VARIANTS = {
    "no_vectors": ["--pretrained_embeddings", "none"],
    "train_words": ["--pretrained_embeddings", "glove-6b-50d", "--vector_vocab_size", "0"],
    "k10k": ["--vector_vocab_size", "10000"],
    "k40k": ["--vector_vocab_size", "40000"],
    "k100k": ["--vector_vocab_size", "100000"],
    "kall": ["--vector_vocab_size", "400000"],
    "k40k_lower": ["--vector_vocab_size", "40000", "--lowercase"],
    "k40k_frozen": ["--vector_vocab_size", "40000", "--freeze_embeddings"],
    "k40k_vw": ["--vector_vocab_size", "40000", "--vector_words"],
}
RESULTS_FILE = "open_vocab.json"


def run_one(setting, validation, variant, seed, paths, run_dir):
    run_dir = Path(run_dir)
    results = run_dir / "all_results.json"
    if not results.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(TRAIN_SCRIPT), "--train_file", paths["train"], "--validation_file", paths["valid"],
               "--text_column", "text", "--label_column", "label", "--seed", str(seed), "--output_dir", str(run_dir),
               "--overwrite_output_dir", "--no_baseline", *VARIANTS[variant]]
        run_train_script(cmd, run_dir, f"{setting} {variant}")
    res = json.loads(results.read_text())
    size = (run_dir / "model.safetensors").stat().st_size
    return {"setting": setting, "validation": validation, "variant": variant, "seed": seed,
            "valid_loss": res["eval_loss"], "valid_accuracy": res["eval_accuracy"], "valid_rows": res["eval_samples"],
            "best_global_step": res["best_global_step"], "global_step": res["global_step"],
            "train_s": res["train_runtime"], "model_mb": size / 1e6,
            "words_added": res.get("pretrained_embeddings_words_added"),
            "text_coverage": res.get("pretrained_embeddings_train_text_coverage")}


def table(rows):
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    keys = list(dict.fromkeys((r["setting"], r["validation"]) for r in rows))
    cell = {(r["setting"], r["validation"], r["variant"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| setting | validation | " + " | ".join(variants) + " |", "| --- | --- |" + " --- |" * len(variants)]
    for setting, validation in keys:
        out = []
        for v in variants:
            rs = [cell[(setting, validation, v, s)] for s in seeds if (setting, validation, v, s) in cell]
            out.append(f"{mean_sd(r['valid_loss'] for r in rs)[0]:.3f} / {mean_sd(r['valid_accuracy'] for r in rs)[0]:.3f}"
                       if rs else "")
        lines.append(f"| {setting} | {validation} | " + " | ".join(out) + " |")
    for validation in dict.fromkeys(r["validation"] for r in rows):
        common = [k for k in keys if k[1] == validation
                  and all(any((k[0], validation, v, s) in cell for s in seeds) for v in variants)]
        if not common:
            continue
        out = []
        for v in variants:
            rs = [cell[(k[0], validation, v, s)] for k in common for s in seeds if (k[0], validation, v, s) in cell]
            out.append(f"**{mean_sd(r['valid_loss'] for r in rs)[0]:.3f} / {mean_sd(r['valid_accuracy'] for r in rs)[0]:.3f}**")
        lines.append(f"| mean of {len(common)} | {validation} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", choices=CURVE_SETS, default=list(CURVE_SETS))
    ap.add_argument("--sizes", nargs="+", default=["250", "1000"])
    ap.add_argument("--validation", nargs="+", choices=["given", "quarter"], default=["given", "quarter"])
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["train_words", "k10k", "k40k", "kall"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--work_root", default="bench/.work")
    ap.add_argument("--output_dir", default="bench/results")
    ap.add_argument("--table_only", action="store_true")
    ap.add_argument("--collect_only", action="store_true",
                    help="train nothing: collect the finished runs of the grid into the JSON and the table")
    args = ap.parse_args(argv)
    out_dir = REPO_ROOT / args.output_dir
    old = json.loads((out_dir / RESULTS_FILE).read_text())["rows"] if (out_dir / RESULTS_FILE).is_file() else []
    if args.table_only:
        print(table(old))
        return
    work_root = REPO_ROOT / args.work_root
    jobs = []
    for name in args.sets:
        for size in args.sizes:
            setting = name if size == "full" else f"{name}-{size}"
            paths = materialize(setting, args.data_dir, work_root / setting)
            for validation in args.validation:
                vpaths = paths if validation == "given" else quarter_validation(paths, work_root / setting)
                for variant in args.variants:
                    for seed in args.seeds:
                        run_dir = work_root / "runs" / "open_vocab" / setting / validation / variant / f"seed{seed}"
                        if not (args.collect_only and not (run_dir / "all_results.json").is_file()):
                            jobs.append((setting, validation, variant, seed, vpaths, run_dir))
    t0 = time.perf_counter()

    def one(job):
        row = run_one(*job)
        print(f"  {row['setting']:10s} {row['validation']:8s} {row['variant']:12s} seed {row['seed']}:"
              f" valid loss {row['valid_loss']:.4f} acc {row['valid_accuracy']:.4f}"
              f" step {row['best_global_step']}/{row['global_step']} {row['model_mb']:.1f} MB", flush=True)
        return row

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(one, jobs))
    done = {(r["setting"], r["validation"], r["variant"], r["seed"]) for r in rows}
    rows = [r for r in old if (r["setting"], r["validation"], r["variant"], r["seed"]) not in done] + rows
    write_json({"environment": environment(), "variants": VARIANTS, "rows": rows,
                "wall_s": time.perf_counter() - t0}, out_dir, RESULTS_FILE)
    print(table(rows))


if __name__ == "__main__":
    main()
