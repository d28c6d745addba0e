"""What a checkpoint at every epoch costs: training time and disk, with and without
``--checkpointing_steps epoch`` (the question behind making it the default, as the HF Trainer
saves by default).

Runs ``modeling.training.recipe.train`` twice per data set with the project's defaults (same seed), once
without checkpoints and once with one per epoch, and reports ``train_runtime``, the seconds spent
inside ``save_checkpoint`` and the size of each ``epoch_N/`` folder.

    python bench/bench_checkpoint_cost.py                       # the demo CSV, two 10-epoch runs
    python bench/bench_checkpoint_cost.py --save_only_vocab_size 15951   # one save of a fakenews-sized model
    python bench/bench_checkpoint_cost.py --train_file ../shared/data/fake_or_real_news/truncated128/train.csv \\
        --validation_file ../shared/data/fake_or_real_news/truncated128/valid.csv --text_column titletext \\
        --num_train_epochs 2
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

import modeling.training.loop
import modeling.training.recipe
from bench.common import environment, write_json
from modeling.source import WEIGHTS_FILE


def folder_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def one_run(options, output_dir, checkpointing):
    seconds = []
    real_save = modeling.training.loop.save_checkpoint

    def timed_save(*args, **kwargs):
        start = time.perf_counter()
        result = real_save(*args, **kwargs)
        seconds.append(time.perf_counter() - start)
        return result

    modeling.training.loop.save_checkpoint = timed_save
    try:
        results = modeling.training.recipe.train(output_dir=str(output_dir), overwrite_output_dir=True,
                                         checkpointing_steps="epoch" if checkpointing else None, **options)
    finally:
        modeling.training.loop.save_checkpoint = real_save
    sizes = {p.name: folder_bytes(p) for p in sorted(Path(output_dir).glob("epoch_*"))}
    return {"train_runtime": results["train_runtime"], "eval_loss": results["eval_loss"],
            "checkpoint_seconds": [round(s, 3) for s in seconds], "checkpoint_bytes": sizes,
            "model_bytes": (Path(output_dir) / WEIGHTS_FILE).stat().st_size}


def save_only(vocab_size, output_dir, repeats=3):
    """Seconds and bytes of ``save_checkpoint`` for the default architecture with ``vocab_size``
    (after one optimizer step, so the Adam state exists): the cost per epoch, without training."""
    from accelerate import Accelerator

    from modeling import BiLSTMConfig, BiLSTMForSequenceClassification
    from modeling.training.optimization import create_optimizer
    from modeling.training.state import TrainingState

    model = BiLSTMForSequenceClassification(BiLSTMConfig(vocab_size=vocab_size))
    optimizer = create_optimizer(model.parameters(), 1e-3, 0.0)
    accelerator = Accelerator()
    model, optimizer = accelerator.prepare(model, optimizer)
    model(torch.randint(2, vocab_size, (32, 128)), labels=torch.randint(0, 2, (32,))).loss.backward()
    optimizer.step()
    state = TrainingState()
    state.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    seconds = []
    for i in range(repeats):
        start = time.perf_counter()
        path = modeling.training.loop.save_checkpoint(accelerator, state, output_dir, f"epoch_{i}")
        seconds.append(round(time.perf_counter() - start, 3))
    return {"vocab_size": vocab_size, "parameters": sum(p.numel() for p in model.parameters()),
            "checkpoint_seconds": seconds, "checkpoint_bytes": folder_bytes(path)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train_file")
    ap.add_argument("--validation_file")
    ap.add_argument("--text_column")
    ap.add_argument("--num_train_epochs", type=int, help="A fixed number of epochs (default: train.py's, early stopping).")
    ap.add_argument("--save_only_vocab_size", type=int,
                    help="Only time save_checkpoint for the default model with this vocabulary (no training).")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--output_dir", default="bench/results")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    options = {k: v for k, v in (("train_file", args.train_file), ("validation_file", args.validation_file),
                                 ("text_column", args.text_column), ("num_train_epochs", args.num_train_epochs)) if v}
    report = {"environment": environment(), "options": options, "threads": args.threads}
    if args.save_only_vocab_size:
        with tempfile.TemporaryDirectory() as tmp:
            report["save_only"] = save_only(args.save_only_vocab_size, tmp)
        print(report["save_only"])
        print(write_json(report, args.output_dir, f"checkpoint_cost_vocab{args.save_only_vocab_size}.json"))
        return
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
