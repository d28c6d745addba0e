"""Inference speed of ``predict``: batched throughput, single-text latency, FLOPs, share of fp32 peak.

Speed does not depend on the weights, so the model is randomly initialised with the project's
default architecture (``BiLSTMConfig()``, read from the code) and a tokenizer trained on the
fake_or_real_news ``truncated128`` train split (its real vocabulary size). Texts are test articles
(two joined where one is too short) cut to exactly 128 and 200 tokens of that tokenizer.

* batched: ``model.predict(texts, batch_size=B)`` on ``--n_texts`` texts (tokenisation, padding,
  forward, softmax, result dicts all included), median of ``--repeats``; and the forward pass alone
  on pre-tokenised tensors, to show where the time goes;
* single text: ``model.predict(text)`` latency p50/p99 over ``--n_single`` calls;
* onnxruntime (``modeling.serving.OnnxBiLSTMClassifier`` on the model exported by
  ``modeling.hub.onnx_export``, ``--threads`` intra-op threads), timed interleaved with torch: each
  repeat runs torch then onnxruntime on the same texts, each single-text call alternates, and the
  medians are reported (the machine is shared: interleaving puts both under the same load). The max
  |logit difference| and the number of differing predicted labels over all texts are recorded;
* onnxruntime int8 (``modeling.hub.onnx_int8.quantize_graph`` of that graph, the settings
  ``export_onnx.py --quantize int8`` uses), in the same interleaved runs; with
  ``--model_name_or_path`` (a trained model, e.g. the README's fake_or_real_news run) also its label
  agreement with torch and the accuracy of all three backends on the whole fake_or_real_news test
  split (634 articles at the model's max_length), scored alone and in batches of 64, and the sizes
  of the three files. Speed does not depend on the weights, so the trained model's timings are
  comparable to the random model's;
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
    python bench/bench_inference.py --no_onnx       # torch (and fastText) only
    python bench/bench_inference.py --model_name_or_path outputs/fake_or_real_news --no_fasttext   # + int8 accuracy
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.bench_data import materialize
from bench.common import environment, model_defaults, train_defaults, write_json
from bench.peers import FASTTEXT_CONFIGS, fasttext_inference_speed, read_split
from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.inference import pad_sequences
from modeling.source import WEIGHTS_FILE

WORK_DIR = Path(__file__).resolve().parent / ".work" / "inference_onnx"


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


def interleaved_times(fns, repeats) -> list:
    """Median seconds of each of ``fns``, run in turn ``repeats`` times after one warm-up each, so
    that all of them see the same phases of a shared machine."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, samples in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
    return [float(np.median(samples)) for samples in times]


def interleaved_latency(fns, texts, calls) -> list:
    """Single-text latency of each of ``fns``; call k runs every function on the same text in turn."""
    for t in texts[:20]:
        for fn in fns:
            fn(t)  # warm-up
    lat = [[] for _ in fns]
    for k in range(calls):
        for fn, samples in zip(fns, lat):
            t0 = time.perf_counter()
            fn(texts[k % len(texts)])
            samples.append(time.perf_counter() - t0)
    return [{"calls": calls, "p50_ms": 1e3 * float(np.percentile(x, 50)), "p99_ms": 1e3 * float(np.percentile(x, 99)),
             "mean_ms": 1e3 * float(np.mean(x))} for x in lat]


def onnx_models(model, threads, int8=True):
    """``model`` saved and exported under bench/.work/ (and quantized to int8), loaded by onnxruntime
    with ``threads`` threads: ``(fp32, int8 or None)``."""
    from modeling.hub.onnx_export import export_onnx
    from modeling.hub.onnx_int8 import quantize_graph
    from modeling.serving import INT8_ONNX_FILE, OnnxBiLSTMClassifier

    model.save_pretrained(WORK_DIR)
    export_onnx(model, WORK_DIR / "model.onnx")
    if int8:
        quantize_graph(WORK_DIR / "model.onnx", WORK_DIR / INT8_ONNX_FILE)
    return (OnnxBiLSTMClassifier.from_pretrained(WORK_DIR, num_threads=threads),
            OnnxBiLSTMClassifier.from_pretrained(WORK_DIR, precision="int8", num_threads=threads) if int8 else None)


def file_sizes() -> dict:
    """Bytes of the weights and of both graphs under bench/.work/."""
    names = {"torch_safetensors": WEIGHTS_FILE, "onnx_fp32": "model.onnx", "onnx_int8": "model_int8.onnx"}
    return {key: (WORK_DIR / name).stat().st_size for key, name in names.items() if (WORK_DIR / name).is_file()}


def test_split_scores(backends, texts, labels, label_names) -> dict:
    """Accuracy of each backend on a labelled split and its label agreement with torch (the first),
    scoring every text alone and in batches of 64."""
    from modeling.inference import decide

    gold = torch.tensor([label_names.index(y) for y in labels])
    out = {"texts": len(texts)}
    for batch_size in (1, 64):
        with torch.inference_mode():
            predicted = [decide(m.predict_proba(texts, batch_size=batch_size)) for _, m in backends]
        for (prefix, _), p in zip(backends, predicted):
            out[f"{prefix}batch{batch_size}"] = {
                "accuracy": float((p == gold).float().mean()),
                "agreement_with_torch": float((p == predicted[0]).float().mean()),
                "labels_differing_from_torch": int((p != predicted[0]).sum())}
    return out


def agreement(model, ort_model, texts) -> dict:
    """Max |logit difference| and differing predicted labels over ``texts`` (batches of 64)."""
    worst, differ = 0.0, 0
    encodings = model.tokenizer.encode_batch(texts)
    for start in range(0, len(texts), 64):
        ids, mask = pad_sequences([e.ids for e in encodings[start : start + 64]], model.config.pad_token_id)
        with torch.inference_mode():
            expected = model(ids, mask).logits
        got = ort_model.logits(ids, mask)
        worst = max(worst, float((got - expected).abs().max()))
        differ += int(((got > 0) != (expected > 0)).any(-1).sum()) if got.size(-1) == 1 else \
            int((got.argmax(-1) != expected.argmax(-1)).sum())
    return {"max_abs_logit_diff": worst, "labels_differing": differ, "texts": len(texts)}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    ap.add_argument("--lengths", nargs="+", type=int, default=[128, 200], help="tokens per text")
    ap.add_argument("--batch_sizes", nargs="+", type=int, default=[1, 64, 256], help="predict batch sizes")
    ap.add_argument("--n_texts", type=int, default=1024, help="texts per batched measurement")
    ap.add_argument("--n_single", type=int, default=500, help="single-text calls (at least 300 for p99)")
    ap.add_argument("--repeats", type=int, default=5, help="batched repeats (the median is kept)")
    ap.add_argument("--quick", action="store_true", help="256 texts, 300 single calls, 2 repeats")
    ap.add_argument("--no_fasttext", dest="fasttext", action="store_false", help="skip the fastText peer")
    ap.add_argument("--no_onnx", dest="onnx", action="store_false", help="skip onnxruntime (the [onnx] extra)")
    ap.add_argument("--no_int8", dest="int8", action="store_false", help="skip the int8 graph")
    ap.add_argument("--model_name_or_path", default=None,
                    help="a trained model (train.py folder): timings on it, plus accuracy on the test split")
    ap.add_argument("--data_dir", default=None, help="shared data folder (default ../shared/data)")
    ap.add_argument("--output_dir", default="bench/results", help="folder for inference[_quick]_t<threads>.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_texts, args.n_single, args.repeats = 256, 300, 3
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    run = train_defaults()
    paths = materialize("fakenews", args.data_dir)
    (train_texts, _), (test_texts, test_labels) = read_split(paths["train"]), read_split(paths["test"])
    longest = max(args.lengths)
    if args.model_name_or_path:
        model = BiLSTMForSequenceClassification.from_pretrained(args.model_name_or_path).eval()
        tokenizer, config = model.tokenizer, model.config
    else:
        tokenizer = train_tokenizer([train_texts], run["min_frequency"], max(longest, run["max_length"]),
                                    lowercase=run["lowercase"])
        config = BiLSTMConfig(**{**model_defaults(), "vocab_size": tokenizer.get_vocab_size(),
                                 "max_length": max(longest, model_defaults()["max_length"])})
        torch.manual_seed(0)
        model = BiLSTMForSequenceClassification(config).eval()
        model.tokenizer = tokenizer
    ort_model, int8_model = onnx_models(model, args.threads, args.int8) if args.onnx else (None, None)
    backends = [("", model)] + [(prefix, m) for prefix, m in (("onnx_", ort_model), ("onnx_int8_", int8_model)) if m]
    flops = flops_per_token(config)
    # On a shared machine one measurement can catch a busy core: measure the peak before and after
    # every block and keep the best, so the fractions below are not inflated by a low peak.
    peaks = [matmul_peak()]
    report = {"environment": environment(), "threads": args.threads, "config": config.to_dict(),
              "model": args.model_name_or_path or "random init", "flops": flops, "n_texts": args.n_texts,
              "file_sizes_bytes": file_sizes() if args.onnx else {}, "results": []}
    if args.model_name_or_path:
        report["test_split"] = test_split_scores(backends, test_texts, test_labels, config.label_names)
    print(f"LSTM FLOPs/token: {flops['lstm_matmul_flops_per_token'] / 1e6:.3f} M (matmul) + "
          f"{flops['lstm_elementwise_flops_per_token'] / 1e3:.1f} k (element-wise)")
    per_token = flops["lstm_matmul_flops_per_token"] + flops["lstm_elementwise_flops_per_token"]
    for n_tokens in args.lengths:
        texts = texts_of_length(tokenizer, test_texts, n_tokens, args.n_texts)
        row = {"tokens": n_tokens, "batched": []}
        for bs in args.batch_sizes:
            ids, mask = pad_sequences([e.ids for e in tokenizer.encode_batch(texts[:bs])], config.pad_token_id)
            with torch.inference_mode():
                predict = interleaved_times([lambda m=m: m.predict(texts, batch_size=bs) for _, m in backends],
                                            args.repeats)
                forward = interleaved_times([lambda: model(ids, mask)] + [lambda m=m: m.logits(ids, mask)
                                                                          for _, m in backends[1:]], args.repeats)
            entry = {"batch_size": bs}
            for (prefix, _), p, f in zip(backends, predict, forward):
                entry.update({f"{prefix}predict_texts_per_s": len(texts) / p, f"{prefix}forward_texts_per_s": len(ids) / f})
            row["batched"].append(entry)
        singles = interleaved_latency([m.predict for _, m in backends], texts, args.n_single)
        row["single"] = singles[0]
        for (prefix, m), single in list(zip(backends, singles))[1:]:
            row[f"{prefix}single"], row[f"{prefix}agreement"] = single, agreement(model, m, texts)
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
            for kind in ("predict", "forward", "onnx_predict", "onnx_forward", "onnx_int8_predict", "onnx_int8_forward"):
                if f"{kind}_texts_per_s" in b:
                    achieved = b[f"{kind}_texts_per_s"] * row["tokens"] * per_token
                    b[f"{kind}_gflops"], b[f"{kind}_peak_fraction"] = achieved / 1e9, achieved / peak
    print(f"fp32 matmul peak ({args.threads} thread(s), best of {len(peaks)} measurements): "
          f"{peak / 1e9:.1f} GFLOP/s (all: {', '.join(f'{p / 1e9:.1f}' for p in peaks)})")
    report["load_avg_at_end"] = environment()["load_avg_1m_5m_15m"]
    print_tables(report)
    out = write_json(report, args.output_dir, f"inference{'_quick' if args.quick else ''}_t{args.threads}.json")
    print(f"wrote {out}")
    return report


BACKEND_NAMES = (("", "torch"), ("onnx_", "onnxruntime fp32"), ("onnx_int8_", "onnxruntime int8"))


def print_tables(report):
    print("\n| tokens | batch | backend | predict texts/s | vs torch | forward-only texts/s | % of fp32 peak (predict / forward) |"
          "\n| --- | --- | --- | --- | --- | --- | --- |")
    for row in report["results"]:
        for b in row["batched"]:
            for prefix, name in BACKEND_NAMES:
                if f"{prefix}predict_texts_per_s" in b:
                    ratio = b[f"{prefix}predict_texts_per_s"] / b["predict_texts_per_s"]
                    print(f"| {row['tokens']} | {b['batch_size']} | {name} | {b[f'{prefix}predict_texts_per_s']:,.0f} | "
                          f"{ratio:.2f}x | {b[f'{prefix}forward_texts_per_s']:,.0f} | "
                          f"{100 * b[f'{prefix}predict_peak_fraction']:.1f}% / {100 * b[f'{prefix}forward_peak_fraction']:.1f}% |")
    print("\n| tokens | model | batched texts/s | single p50 (ms) | single p99 (ms) |\n| --- | --- | --- | --- | --- |")
    for row in report["results"]:
        for prefix, name in BACKEND_NAMES:
            if f"{prefix}single" in row:
                best = max(b[f"{prefix}predict_texts_per_s"] for b in row["batched"])
                s = row[f"{prefix}single"]
                print(f"| {row['tokens']} | BiLSTM predict ({name}) | {best:,.0f} | {s['p50_ms']:.3f} | {s['p99_ms']:.3f} |")
        ft = row.get("fasttext")
        if ft and "skipped" not in ft:
            print(f"| {row['tokens']} | fastText | {ft['batch_texts_per_s']:,.0f} | {ft['single_p50_ms']:.3f} | "
                  f"{ft['single_p99_ms']:.3f} |")
        elif ft:
            print(f"| {row['tokens']} | fastText | skipped: {ft['skipped']} | | |")
    for row in report["results"]:
        for prefix, name in BACKEND_NAMES[1:]:
            if f"{prefix}agreement" in row:
                a = row[f"{prefix}agreement"]
                print(f"{row['tokens']} tokens: {name} vs torch over {a['texts']} texts: max |logit diff| "
                      f"{a['max_abs_logit_diff']:.2e}, {a['labels_differing']} predicted labels differ")
    if report.get("file_sizes_bytes"):
        print("sizes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in report["file_sizes_bytes"].items()))
    split = report.get("test_split")
    if split:
        print(f"\n| test split ({split['texts']} texts) | batch | accuracy | agreement with torch | labels differing |"
              "\n| --- | --- | --- | --- | --- |")
        for prefix, name in BACKEND_NAMES:
            for batch_size in (1, 64):
                r = split.get(f"{prefix}batch{batch_size}")
                if r:
                    print(f"| {name} | {batch_size} | {r['accuracy']:.4f} | {100 * r['agreement_with_torch']:.2f}% |"
                          f" {r['labels_differing_from_torch']} |")


if __name__ == "__main__":
    main()
