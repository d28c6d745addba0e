"""Text → padded ids when serving: how much of ``predict()`` it takes, and what long texts cost.

The model is ``bench_inference.py``'s (default architecture, random init with seed 0, a tokenizer
trained on the fakenews train split), on one thread (torch and onnxruntime). Three measurements:

1. ``share``: ``predict(1,024 texts of 128 tokens, batch_size=64)`` against turning the same texts
   into the padded batches ``predict`` makes (what this tree's ``predict`` calls for it), interleaved,
   medians; torch fp32 and the ONNX int8 graph.
2. ``articles``: ``predict`` on fakenews articles of at least 1,000 words cut to their first 1,000
   words (the valid and test files with the full texts); the predictions are written to the JSON so
   that two trees' outputs can be compared.
   With ``modeling.encoding`` (this tree), also a2d399d's steps on the same articles in the same
   process, interleaved: the text -> padded ids part alone and ``predict_proba`` (identical
   probabilities checked).
3. ``one_text``: one 5 MB text (articles joined) and one 200-word text, each ``predict``-ed alone, in
   turn: best and median seconds of 10 calls, and the peak resident memory during a call above the
   memory before it.

Run it in an older checkout too (copy this file there: it uses only what both have) for before/after;
``modeling.encoding`` present or not says which path the tree takes.

    python bench/bench_text_ids.py --label after
    PYTHONPATH=/tmp/pipe_before python /tmp/pipe_before/bench/bench_text_ids.py --label before
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench.bench_data import materialize
from bench.bench_inference import interleaved_times, onnx_models, texts_of_length
from bench.bench_pipeline import MemorySampler
from bench.common import environment, model_defaults, train_defaults, write_json
from bench.peers import read_split
from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.inference import pad_sequences, probabilities


def padded_batches(model, texts, batch_size):
    """What this tree's ``predict`` does before the forward passes: ids, length order, padding."""
    try:
        from modeling.encoding import encode_ids
    except ImportError:  # a tree before modeling.encoding: whole texts through encode_batch
        ids = [e.ids for e in model.tokenizer.encode_batch(list(texts))]
    else:
        ids = encode_ids(model.tokenizer, texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    return [pad_sequences([ids[i] for i in order[s : s + batch_size]], model.config.pad_token_id)
            for s in range(0, len(order), batch_size)]


def pad_whole(model, texts, batch_size=64):
    """a2d399d's text -> padded ids: every text encoded whole, length order, padding row by row."""
    encodings = model.tokenizer.encode_batch(list(texts))
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    return [_pad_rows([encodings[i].ids for i in order[s : s + batch_size]]) for s in range(0, len(order), batch_size)]


def _pad_rows(rows):
    input_ids = torch.zeros((len(rows), max(1, max(map(len, rows)))), dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for r, ids in enumerate(rows):
        input_ids[r, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        mask[r, : len(ids)] = 1
    return input_ids, mask


def predict_proba_whole(model, texts, batch_size=64):
    """``predict_proba`` as a2d399d ran it: every text encoded whole by ``encode_batch`` (then truncated),
    padded row by row; for a before/after ratio inside one process, interleaved."""
    encodings = model.tokenizer.encode_batch(list(texts))
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    probs = torch.zeros(len(encodings), model.config.num_labels)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        input_ids, mask = _pad_rows([encodings[i].ids for i in chunk])
        probs[chunk] = probabilities(model.logits(input_ids, mask), model.config.num_labels)
    return probs


def long_articles(data_dir, n_words=1000):
    """Full-length fakenews articles of at least ``n_words`` words, cut to their first ``n_words``."""
    folder = Path(data_dir) / "fake_or_real_news" / "fulltext_valid_test"
    csv.field_size_limit(1 << 30)
    texts = []
    for name in ("valid.csv", "test.csv"):
        with open(folder / name, encoding="utf-8", newline="") as f:
            texts += [row["titletext"] for row in csv.DictReader(f)]
    return texts, [" ".join(t.split()[:n_words]) for t in texts if len(t.split()) >= n_words]


def one_text_costs(model, texts, calls=10):
    """For each of ``texts`` predicted alone: the best seconds of ``calls`` calls (the texts in turn,
    so both see the same load) and the peak RSS during its calls above the RSS before them (MiB)."""
    for text in texts.values():
        model.predict(text)
    times = {name: [] for name in texts}
    for _ in range(calls):
        for name, text in texts.items():
            t0 = time.perf_counter()
            model.predict(text)
            times[name].append(time.perf_counter() - t0)
    out = {}
    for name, text in texts.items():
        sampler = MemorySampler(interval=0.005)
        before = sampler.read()["VmRSS"]
        with sampler:
            model.predict(text)
        out[name] = {"chars": len(text), "best_s": min(times[name]), "median_s": float(np.median(times[name])),
                     "peak_rss_above_mb": sampler.peak["VmRSS"] - before}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--label", required=True, help="name of this tree's results (before/after)")
    ap.add_argument("--data_dir", default="/work/shared/data", help="shared data folder (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the share timing")
    ap.add_argument("--output_dir", default="bench/results")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    run = train_defaults()
    paths = materialize("fakenews", args.data_dir)
    (train_texts, _), (test_texts, _) = read_split(paths["train"]), read_split(paths["test"])
    tokenizer = train_tokenizer([train_texts], run["min_frequency"], run["max_length"], lowercase=run["lowercase"])
    config = BiLSTMConfig(**{**model_defaults(), "vocab_size": tokenizer.get_vocab_size()})
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(config).eval()
    model.tokenizer = tokenizer
    _, int8 = onnx_models(model, threads=1)
    report = {"environment": environment(), "label": args.label, "load_average_start": os.getloadavg(),
              "has_encoding_module": _has_encoding()}
    texts = texts_of_length(tokenizer, test_texts, 128, 1024)
    with torch.inference_mode():
        for name, m in (("torch", model), ("onnx_int8", int8)):
            predict_s, text_s = interleaved_times([lambda m=m: m.predict(texts, batch_size=64),
                                                   lambda m=m: padded_batches(m, texts, 64)], args.repeats)
            report[f"share_{name}"] = {"predict_s": predict_s, "text_to_padded_ids_s": text_s,
                                       "share": text_s / predict_s}
            print(f"{name}: predict {predict_s * 1000:.0f} ms, text -> padded ids {text_s * 1000:.0f} ms"
                  f" ({text_s / predict_s:.0%})")
        full, articles = long_articles(args.data_dir)
        if _has_encoding():  # the text -> padded ids part alone: whole texts (a2d399d) against cut ones
            whole_s, cut_s = interleaved_times([lambda: pad_whole(model, articles),
                                                lambda: padded_batches(model, articles, 64)], 3)
            report["articles_text_to_ids"] = {"whole_s": whole_s, "cut_s": cut_s, "speedup": whole_s / cut_s}
            print(f"1,000-word articles, text -> padded ids: whole {whole_s:.2f} s, cut {cut_s:.2f} s"
                  f" ({whole_s / cut_s:.1f}x)")
        for name, m in (("torch", model), ("onnx_int8", int8)) if _has_encoding() else ():
            # this tree's predict_proba against a2d399d's steps, interleaved in this process
            whole_s, cut_s = interleaved_times([lambda m=m: predict_proba_whole(m, articles),
                                                lambda m=m: m.predict_proba(articles, batch_size=64)], 3)
            same = torch.equal(predict_proba_whole(m, articles), m.predict_proba(articles, batch_size=64))
            report[f"articles_interleaved_{name}"] = {"whole_s": whole_s, "cut_s": cut_s, "speedup": whole_s / cut_s,
                                                      "identical_probabilities": same}
            print(f"1,000-word articles, {name}, interleaved: whole texts {whole_s:.2f} s, cut {cut_s:.2f} s"
                  f" ({whole_s / cut_s:.1f}x), identical probabilities: {same}")
        for name, m in (("torch", model), ("onnx_int8", int8)):
            (seconds,) = interleaved_times([lambda m=m: m.predict(articles, batch_size=64)], 3)
            report[f"articles_{name}"] = {"n": len(articles), "s": seconds, "texts_per_s": len(articles) / seconds,
                                          "predictions": m.predict(articles, batch_size=64)}
            print(f"{name}: {len(articles)} articles of 1,000 words: {seconds:.2f} s ({len(articles) / seconds:,.0f}/s)")
        big = " ".join(full)
        while len(big.encode()) < 5_000_000:
            big += " " + big
        big = big.encode()[:5_000_000].decode(errors="ignore")
        short = " ".join(full[0].split()[:200])
        report["one_text"] = one_text_costs(model, {"5MB": big, "200_words": short})
        for k, v in report["one_text"].items():
            print(f"one {k} text: best {v['best_s'] * 1000:.1f} ms, median {v['median_s'] * 1000:.1f} ms,"
                  f" peak RSS +{v['peak_rss_above_mb']:.0f} MiB")
    report["load_average_end"] = os.getloadavg()
    print(f"load average {report['load_average_start']} -> {report['load_average_end']}")
    write_json(report, args.output_dir, f"text_ids_{args.label}.json")


def _has_encoding():
    try:
        import modeling.encoding  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
