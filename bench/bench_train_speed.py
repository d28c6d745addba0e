"""Training speed: our BiLSTM vs a naive tutorial-style BiLSTM, same data, sizes and threads.

In one process, on fake_or_real_news ``truncated128`` (5,068 training articles):

* **ours**: the loop of ``scripts/train.py`` with the library (Accelerate, length-grouped
  batches, Adam, the project's default architecture and batch size read from the code,
  validation twice per epoch, best weights kept in memory);
* **reference**: ``bench.reference_bilstm.train_reference`` (one ``pack_padded_sequence`` per
  batch, randomly shuffled batches without length grouping, validation twice per epoch) with the
  same embedding size, hidden size, batch size, token limit, learning rate and epochs.

Both run with the same ``torch.set_num_threads`` and with ``torch.set_flush_denormal(True)``
(denormal floats slow CPU LSTM training several-fold after a few hundred steps; ``train.py`` sets
it, the tutorial does not; ``--no_flush_denormal`` turns it off for both). ``train_s`` counts the
optimisation steps (batching included), ``wall_s`` the whole loop with validation;
``samples/s = epochs x train rows / train_s``.

    python bench/bench_train_speed.py                  # 10 epochs each, 1 thread (about 7 min)
    python bench/bench_train_speed.py --threads 2
    python bench/bench_train_speed.py --quick          # 1 epoch each (about 1 min)
    python bench/bench_train_speed.py --threads 2 --only ours --train_precision bf16
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import math
import time

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from bench.bench_data import materialize
from bench.common import environment, model_defaults, train_defaults, write_json
from bench.peers import read_split
from bench.reference_bilstm import train_reference
from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.data.batching import as_text_batches, encode_dataset, make_dataloader
from modeling.training.evaluation import evaluate_model, make_eval_dataloader
from modeling.training.optimization import (
    PRECISION_CHOICES, create_optimizer, get_scheduler, resolve_train_precision, train_autocast,
)
from modeling.tokenizer import PAD_TOKEN_ID
from modeling.data.splits import load_splits


def train_ours(paths, epochs, run, seed=1, log=print) -> dict:
    """``scripts/train.py``'s loop on ``paths`` (train/valid CSVs) with ``run`` = its defaults."""
    set_seed(seed)
    t0 = time.perf_counter()
    data = load_splits(paths["train"], paths["valid"], text_column="text", label_column="label",
                       first_n_words=run["max_length"], seed=seed)
    splits, text_column, label_names = data.splits, data.text_column, data.label_names
    tokenizer = train_tokenizer(as_text_batches(splits["train"], text_column), run["min_frequency"], run["max_length"],
                                lowercase=run["lowercase"])
    encoded = {name: encode_dataset(ds, tokenizer, text_column) for name, ds in splits.items()}
    config = BiLSTMConfig(**{**model_defaults(), "vocab_size": tokenizer.get_vocab_size(),
                             "label_names": label_names, "pad_token_id": PAD_TOKEN_ID})
    model = BiLSTMForSequenceClassification(config)
    train_dl = make_dataloader(encoded["train"], run["per_device_train_batch_size"], shuffle=True, seed=seed,
                               pad_token_id=PAD_TOKEN_ID)
    sampler = train_dl.batch_sampler
    valid_dl = make_eval_dataloader(encoded["validation"], run["per_device_eval_batch_size"], PAD_TOKEN_ID)
    optimizer = create_optimizer(model.parameters(), run["learning_rate"], run["weight_decay"])
    accelerator = Accelerator(cpu=True)
    model, optimizer, train_dl, valid_dl = accelerator.prepare(model, optimizer, train_dl, valid_dl)
    scheduler = accelerator.prepare(get_scheduler(run["lr_scheduler_type"], optimizer, run["num_warmup_steps"],
                                                  epochs * len(train_dl)))
    precision = resolve_train_precision(run["train_precision"], accelerator.mixed_precision)
    prep_s = time.perf_counter() - t0

    eval_every = max(1, len(train_dl) // 2)
    best, history, train_s, eval_s, step = {"loss": math.inf}, [], 0.0, 0.0, 0
    wall0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        sampler.set_epoch(epoch)
        train_dl.set_epoch(epoch)
        t1 = time.perf_counter()
        for batch in train_dl:
            with train_autocast(precision, accelerator.device):
                loss = model(**batch).loss
            accelerator.backward(loss)
            if run["max_grad_norm"] > 0:
                accelerator.clip_grad_norm_(model.parameters(), run["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            loss.item()  # train.py logs every step's loss
            step += 1
            if step % eval_every == 0:
                train_s += time.perf_counter() - t1
                t2 = time.perf_counter()
                res = evaluate_model(model, valid_dl, accelerator)
                if res["loss"] < best["loss"]:
                    weights = {k: v.detach().clone() for k, v in accelerator.unwrap_model(model).state_dict().items()}
                    best = {"loss": res["loss"], "accuracy": res["accuracy"], "step": step, "weights": weights}
                history.append({"step": step, "valid_loss": res["loss"], "valid_accuracy": res["accuracy"]})
                log(f"  ours: epoch {epoch + 1}/{epochs} step {step}: valid loss {res['loss']:.4f} "
                    f"acc {res['accuracy']:.4f}")
                eval_s += time.perf_counter() - t2
                t1 = time.perf_counter()
        train_s += time.perf_counter() - t1
    wall_s = time.perf_counter() - wall0
    n = len(encoded["train"])
    return {"wall_s": wall_s, "train_s": train_s, "eval_s": eval_s, "prep_s": prep_s,
            "samples_per_s": epochs * n / train_s, "wall_samples_per_s": epochs * n / wall_s,
            "best_valid_loss": best["loss"], "best_valid_accuracy": best.get("accuracy"),
            "epochs": epochs, "steps": step, "train_precision": precision, "n_train": n,
            "vocab_size": config.vocab_size,
            "mean_train_tokens": sum(encoded["train"]["length"]) / n,
            "n_parameters": sum(p.numel() for p in model.parameters()), "config": config.to_dict(),
            "history": history}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10, help="epochs for both models (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="1 epoch each (overrides --epochs)")
    ap.add_argument("--seed", type=int, default=1, help="seed for both (default: %(default)s)")
    ap.add_argument("--no_flush_denormal", dest="flush_denormal", action="store_false",
                    help="keep denormal floats (both models)")
    ap.add_argument("--only", choices=["ours", "reference"], help="time one model only")
    ap.add_argument("--train_precision", choices=PRECISION_CHOICES,
                    help="ours: precision of the training steps (default: train.py's, fp32); the reference is fp32")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--output_dir", default="bench/results", help="folder for train_speed[_quick]_t<threads>.json")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    run, arch = train_defaults(), model_defaults()
    if args.train_precision:
        run["train_precision"] = args.train_precision
    paths = materialize("fakenews", args.data_dir)
    report = {"environment": environment(), "epochs": epochs, "threads": args.threads,
              "flush_denormal": args.flush_denormal, "train_defaults": run, "model_defaults": arch}
    if args.only != "reference":
        print(f"ours: {epochs} epoch(s), {args.threads} thread(s)")
        report["ours"] = train_ours(paths, epochs, run, args.seed)
    if args.only != "ours":
        print(f"reference: {epochs} epoch(s), {args.threads} thread(s)")
        (tr_x, tr_y), (va_x, va_y) = read_split(paths["train"]), read_split(paths["valid"])
        report["reference"] = train_reference(
            tr_x, tr_y, va_x, va_y, epochs=epochs, batch_size=run["per_device_train_batch_size"],
            embedding_dim=arch["embedding_dim"], hidden_size=arch["hidden_size"], max_length=run["max_length"],
            seed=args.seed, threads=args.threads, log=lambda m: print("  reference:" + m[1:]))
    report["load_avg_at_end"] = environment()["load_avg_1m_5m_15m"]
    print("\n| model | precision | epochs | threads | samples/s (train steps) | train (s) "
          "| wall incl. validation (s) | best valid acc |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("ours", "reference"):
        if name in report:
            r = report[name]
            print(f"| {name} | {r.get('train_precision', 'fp32')} | {epochs} | {args.threads} | "
                  f"{r['samples_per_s']:.1f} | {r['train_s']:.1f} | {r['wall_s']:.1f} | {r['best_valid_accuracy']:.4f} |")
    if "ours" in report and "reference" in report:
        ours, ref = report["ours"], report["reference"]
        report["speedup_samples_per_s"] = ours["samples_per_s"] / ref["samples_per_s"]
        report["speedup_wall"] = ref["wall_s"] / ours["wall_s"]
        print(f"\nours / reference: {report['speedup_samples_per_s']:.2f}x samples/s, "
              f"{report['speedup_wall']:.2f}x wall")
    suffix = f"_{args.train_precision}" if args.train_precision else ""
    out = write_json(report, args.output_dir,
                     f"train_speed{'_quick' if args.quick else ''}_t{args.threads}{suffix}.json")
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
