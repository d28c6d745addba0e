"""Inference speed of ``predict``: batched throughput, single-text latency, FLOPs, share of fp32 peak.

Speed does not depend on the weights, so the model is randomly initialised with the project's
default architecture (``BiLSTMConfig()``, read from the code) and a tokenizer trained on the
fake_or_real_news ``truncated128`` train split (its real vocabulary size). Texts are test articles
(two joined where one is too short) cut to exactly 128 and 200 tokens of that tokenizer.

* batched: ``model.predict(texts, batch_size=B)`` on ``--n_texts`` texts (tokenisation, padding,
  forward, softmax, result dicts all included), best of ``--repeats``; and the forward pass alone
  on pre-tokenised tensors, to show where the time goes;
* single text: ``model.predict(text)`` latency p50/p99 over ``--n_single`` calls;
* fastText (``bench.peers.fasttext_inference_speed``, trained on the same split with the peer
  settings, single-threaded) on the same texts, in the same run;
* FLOPs per token from the config: each LSTM direction of each layer does ``4H x (I + H)``
  multiply-adds per token (input and recurrent projections of the 4 gates) = ``8H(I + H)`` FLOPs;
  the embedding lookup is 0; the gate nonlinearities and the classifier (once per text) are
  listed apart. Achieved FLOP/s = texts/s x tokens x FLOPs/token, divided by this machine's
  measured fp32 matmul peak (best ``torch.mm`` of two 2048 x 2048 matrices, same thread count).

    python bench/bench_inference.py                 # 1 thread
    python bench/bench_inference.py --threads 2
    python bench/bench_inference.py --quick         # fewer texts and calls (under a minute)
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time

import numpy as np
import torch

from bench.bench_data import materialize
from bench.common import environment, model_defaults, train_defaults, write_json
from bench.peers import FASTTEXT_CONFIGS, fasttext_inference_speed, read_split
from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.model import pad_sequences


def flops_per_token(config: BiLSTMConfig) -> dict:
    """Analytic forward FLOPs (1 multiply-add = 2 FLOPs) of ``config``."""
    d, h = config.num_directions, config.hidden_size
    matmul = 0
    for layer in range(config.num_layers):
        inp = config.embedding_dim if layer == 0 else d * h
        matmul += d * 2 * 4 * h * (inp + h)
    # c = f*c + i*g, h = o*tanh(c), biases: ~10 element-wise ops per hidden unit and direction,
    # plus 5 sigmoid/tanh evaluations (counted as one op each here).
    elementwise = config.num_layers * d * 15 * h
    features = d * h * (2 if config.pooling == "last_max" else 1)
    outputs = 1 if config.num_labels == 2 else config.num_labels
    return {"lstm_matmul_flops_per_token": matmul, "lstm_elementwise_flops_per_token": elementwise,
            "embedding_flops_per_token": 0, "classifier_flops_per_text": 2 * features * outputs}


def matmul_peak(n=2048, repeats=10) -> float:
    """Best fp32 FLOP/s of ``torch.mm`` on ``n x n`` matrices with the current thread count."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def texts_of_length(tokenizer, sources, n_tokens, count) -> list:
    """``count`` texts of exactly ``n_tokens`` tokens, cut from ``sources`` at a token boundary."""
    out, i = [], 0
    while len(out) < count:
        text = sources[i % len(sources)]
        j = i + 1
        while len(tokenizer.encode(text).ids) < n_tokens:  # too short: join the next article
            text += " " + sources[j % len(sources)]
            j += 1
        enc = tokenizer.encode(text)
        cut = text[: enc.offsets[n_tokens - 1][1]]
        if len(tokenizer.encode(cut).ids) == n_tokens:
            out.append(cut)
        i += 1
        if i > 10 * count + len(sources):
            raise RuntimeError(f"could not build {count} texts of {n_tokens} tokens")
    return out


def best_time(fn, repeats) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def latency(fn, texts, calls) -> dict:
    for t in texts[:20]:
        fn(t)  # warm-up
    lat = []
    for k in range(calls):
        t0 = time.perf_counter()
        fn(texts[k % len(texts)])
        lat.append(time.perf_counter() - t0)
    return {"calls": calls, "p50_ms": 1e3 * float(np.percentile(lat, 50)),
            "p99_ms": 1e3 * float(np.percentile(lat, 99)), "mean_ms": 1e3 * float(np.mean(lat))}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    ap.add_argument("--lengths", nargs="+", type=int, default=[128, 200], help="tokens per text")
    ap.add_argument("--batch_sizes", nargs="+", type=int, default=[64, 256], help="predict batch sizes")
    ap.add_argument("--n_texts", type=int, default=1024, help="texts per batched measurement")
    ap.add_argument("--n_single", type=int, default=500, help="single-text calls (at least 300 for p99)")
    ap.add_argument("--repeats", type=int, default=3, help="batched repeats (best is kept)")
    ap.add_argument("--quick", action="store_true", help="256 texts, 300 single calls, 2 repeats")
    ap.add_argument("--no_fasttext", dest="fasttext", action="store_false", help="skip the fastText peer")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--output_dir", default="bench/results", help="folder for inference[_quick]_t<threads>.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_texts, args.n_single, args.repeats = 256, 300, 2
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    run = train_defaults()
    paths = materialize("fakenews", args.data_dir)
    train_texts, test_texts = read_split(paths["train"])[0], read_split(paths["test"])[0]
    longest = max(args.lengths)
    tokenizer = train_tokenizer([train_texts], run["min_frequency"], max(longest, run["max_length"]),
                                lowercase=run["lowercase"])
    config = BiLSTMConfig(**{**model_defaults(), "vocab_size": tokenizer.get_vocab_size(),
                             "max_length": max(longest, model_defaults()["max_length"])})
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(config).eval()
    model.tokenizer = tokenizer
    flops = flops_per_token(config)
    # On a shared machine one measurement can catch a busy core: measure the peak before and after
    # every block and keep the best, so the fractions below are not inflated by a low peak.
    peaks = [matmul_peak()]
    report = {"environment": environment(), "threads": args.threads, "config": config.to_dict(),
              "flops": flops, "n_texts": args.n_texts, "results": []}
    print(f"LSTM FLOPs/token: {flops['lstm_matmul_flops_per_token'] / 1e6:.3f} M (matmul) + "
          f"{flops['lstm_elementwise_flops_per_token'] / 1e3:.1f} k (element-wise)")
    per_token = flops["lstm_matmul_flops_per_token"] + flops["lstm_elementwise_flops_per_token"]
    for n_tokens in args.lengths:
        texts = texts_of_length(tokenizer, test_texts, n_tokens, args.n_texts)
        row = {"tokens": n_tokens, "batched": []}
        for bs in args.batch_sizes:
            s = best_time(lambda: model.predict(texts, batch_size=bs), args.repeats)
            ids, mask = pad_sequences([e.ids for e in tokenizer.encode_batch(texts[:bs])], config.pad_token_id)
            with torch.inference_mode():
                fwd = best_time(lambda: model(ids, mask), args.repeats)
            row["batched"].append({"batch_size": bs, "predict_texts_per_s": len(texts) / s,
                                   "forward_texts_per_s": len(ids) / fwd})
        row["single"] = latency(model.predict, texts, args.n_single)
        peaks.append(matmul_peak())
        if args.fasttext:
            row["fasttext"] = fasttext_inference_speed(paths["train"], texts, FASTTEXT_CONFIGS["fakenews"],
                                                       n_single=args.n_single, repeats=args.repeats)
        report["results"].append(row)
        print(f"  {n_tokens} tokens: done", flush=True)
    peak = report["matmul_peak_flops"] = max(peaks)
    report["matmul_peak_samples"] = peaks
    for row in report["results"]:
        for b in row["batched"]:
            for kind in ("predict", "forward"):
                achieved = b[f"{kind}_texts_per_s"] * row["tokens"] * per_token
                b[f"{kind}_gflops"], b[f"{kind}_peak_fraction"] = achieved / 1e9, achieved / peak
    print(f"fp32 matmul peak ({args.threads} thread(s), best of {len(peaks)} measurements): "
          f"{peak / 1e9:.1f} GFLOP/s (all: {', '.join(f'{p / 1e9:.1f}' for p in peaks)})")
    report["load_avg_at_end"] = environment()["load_avg_1m_5m_15m"]
    print_tables(report)
    out = write_json(report, args.output_dir, f"inference{'_quick' if args.quick else ''}_t{args.threads}.json")
    print(f"wrote {out}")
    return report


def print_tables(report):
    print("\n| tokens | batch | predict texts/s | forward-only texts/s | % of fp32 peak (predict / forward) |"
          "\n| --- | --- | --- | --- | --- |")
    for row in report["results"]:
        for b in row["batched"]:
            print(f"| {row['tokens']} | {b['batch_size']} | {b['predict_texts_per_s']:,.0f} | "
                  f"{b['forward_texts_per_s']:,.0f} | {100 * b['predict_peak_fraction']:.1f}% / "
                  f"{100 * b['forward_peak_fraction']:.1f}% |")
    print("\n| tokens | model | batched texts/s | single p50 (ms) | single p99 (ms) |\n| --- | --- | --- | --- | --- |")
    for row in report["results"]:
        best = max(b["predict_texts_per_s"] for b in row["batched"])
        s = row["single"]
        print(f"| {row['tokens']} | BiLSTM predict | {best:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} |")
        ft = row.get("fasttext")
        if ft and "skipped" not in ft:
            print(f"| {row['tokens']} | fastText | {ft['batch_texts_per_s']:,.0f} | {ft['single_p50_ms']:.3f} | "
                  f"{ft['single_p99_ms']:.3f} |")
        elif ft:
            print(f"| {row['tokens']} | fastText | skipped: {ft['skipped']} | | |")


if __name__ == "__main__":
    main()
