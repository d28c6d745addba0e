"""What a checkpoint at every epoch costs: training time and disk, with and without
``--checkpointing_steps epoch`` (the question behind making it the default, as the HF Trainer
saves by default).

Runs ``modeling.trainer.train`` twice per data set with the project's defaults (same seed), once
without checkpoints and once with one per epoch, and reports ``train_runtime``, the seconds spent
inside ``save_checkpoint`` and the size of each ``epoch_N/`` folder.

    python bench/bench_checkpoint_cost.py                       # the demo CSV
    python bench/bench_checkpoint_cost.py --train_file ../shared/data/fake_or_real_news/truncated128/train.csv \\
        --validation_file ../shared/data/fake_or_real_news/truncated128/valid.csv --text_column titletext
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

import modeling.trainer
from bench.common import environment, write_json


def folder_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def one_run(options, output_dir, checkpointing):
    seconds = []
    real_save = modeling.trainer.save_checkpoint

    def timed_save(*args, **kwargs):
        start = time.perf_counter()
        result = real_save(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return result

    modeling.trainer.save_checkpoint = timed_save
    try:
        results = modeling.trainer.train(output_dir=str(output_dir), overwrite_output_dir=True,
                                         checkpointing_steps="epoch" if checkpointing else None, **options)
    finally:
        modeling.trainer.save_checkpoint = real_save
    sizes = {p.name: folder_bytes(p) for p in sorted(Path(output_dir).glob("epoch_*"))}
    return {"train_runtime": results["train_runtime"], "eval_loss": results["eval_loss"],
            "checkpoint_seconds": [round(s, 3) for s in seconds], "checkpoint_bytes": sizes,
            "model_bytes": (Path(output_dir) / "model.safetensors").stat().st_size}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train_file")
    ap.add_argument("--validation_file")
    ap.add_argument("--text_column")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output_dir", default="bench/results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    options = {k: v for k, v in (("train_file", args.train_file), ("validation_file", args.validation_file),
                                 ("text_column", args.text_column)) if v}
    report = {"environment": environment(), "options": options, "threads": args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        for checkpointing in (False, True):
            name = "epoch_checkpoints" if checkpointing else "no_checkpoints"
            report[name] = one_run(options, Path(tmp) / name, checkpointing)
            print(name, report[name], flush=True)
    runs = report["epoch_checkpoints"], report["no_checkpoints"]
    report["extra_seconds"] = round(runs[0]["train_runtime"] - runs[1]["train_runtime"], 3)
    report["seconds_in_save_checkpoint"] = round(sum(runs[0]["checkpoint_seconds"]), 3)
    report["disk_bytes_all_epochs"] = sum(runs[0]["checkpoint_bytes"].values())
    print({k: report[k] for k in ("extra_seconds", "seconds_in_save_checkpoint", "disk_bytes_all_epochs")})
    name = "checkpoint_cost_" + (Path(args.train_file).parent.name if args.train_file else "demo") + ".json"
    print(write_json(report, args.output_dir, name))


if __name__ == "__main__":
    main()
