"""Texts per second on one thread: a trained BiLSTM against the frozen MiniLM + LogisticRegression peer.

Both classify the same test texts in batches of 64 (the BiLSTM through ``predict_proba``, torch
backend; MiniLM: tokenize, encode, mean-pool, then the fitted LogisticRegression), one torch
thread each, interleaved ``--repeats`` times; the best time of each counts (shared machines drift).

    python bench/bench_peer_speed.py --model_dir bench/.work/runs/curves_given/bilstm/sst2-1000/seed1 \\
        --setting sst2-1000
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import time

import torch

from bench.bench_data import materialize
from bench.common import environment, write_json
from bench.peers import minilm_embed, read_split


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model_dir", required=True)
    ap.add_argument("--setting", default="sst2-1000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data_dir", default=None)
    ap.add_argument("--output_dir", default="bench/results")
    args = ap.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    from modeling import BiLSTMForSequenceClassification

    torch.set_num_threads(1)
    paths = materialize(args.setting, args.data_dir)
    train, test = read_split(paths["train"]), read_split(paths["test"])
    texts = test[0]
    model = BiLSTMForSequenceClassification.from_pretrained(args.model_dir).eval()
    clf = LogisticRegression(C=10, max_iter=1000).fit(minilm_embed(train[0])[0], train[1])
    best = {"bilstm": float("inf"), "minilm_logreg": float("inf")}
    for _ in range(args.repeats):
        started = time.perf_counter()
        model.predict_proba(texts, batch_size=64)
        best["bilstm"] = min(best["bilstm"], time.perf_counter() - started)
        started = time.perf_counter()
        clf.predict(minilm_embed(texts, cache=False)[0])
        best["minilm_logreg"] = min(best["minilm_logreg"], time.perf_counter() - started)
    rates = {name: len(texts) / seconds for name, seconds in best.items()}
    report = {"environment": environment(), "setting": args.setting, "texts": len(texts), "model_dir": args.model_dir,
              "best_seconds": best, "texts_per_s": rates, "ratio": rates["bilstm"] / rates["minilm_logreg"],
              "load_avg": os.getloadavg()}
    print(f"{args.setting}, {len(texts):,} test texts, one thread: BiLSTM {rates['bilstm']:,.0f} texts/s,"
          f" MiniLM + LR {rates['minilm_logreg']:,.0f} texts/s: {report['ratio']:.1f}x")
    print(f"wrote {write_json(report, args.output_dir, 'peer_speed.json')}")


if __name__ == "__main__":
    main()
