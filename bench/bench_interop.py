"""The same numbers everywhere: ``model.predict`` against transformers (AutoTokenizer, pipeline with
``trust_remote_code=True``) and the Gradio app (``gradio_client``), on a trained model and real texts;
with the time each route takes.

    python bench/bench_interop.py --model_dir outputs/fake_or_real_news \\
        --test_file ../shared/data/fake_or_real_news/fulltext_valid_test/test.csv --n_texts 200

The run folder is first built into the upload folder a push sends (``modeling.hub.upload``), so what is
compared is what a Hub user downloads. Reported: how many texts get exactly our token ids and
attention mask from ``AutoTokenizer``; the largest absolute difference of any label's probability
and the number of top-label disagreements for the pipeline and for the Gradio client; texts/s of
each route (one process, ``--threads`` torch threads). Needs the ``[transformers]`` and ``[demo]``
extras. Writes ``bench/results/interop.json``.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`: make `bench.*` and `modeling` importable
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import csv
import os
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import torch

from bench.common import environment, write_json


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="A train.py output folder.")
    parser.add_argument("--test_file", required=True, help="CSV with a titletext (or text) column.")
    parser.add_argument("--n_texts", type=int, default=200, help="Texts compared (default: %(default)s).")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s).")
    parser.add_argument("--output_dir", default="bench/results", help="Where interop.json goes.")
    return parser.parse_args(argv)


def read_texts(path, n):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    column = "titletext" if "titletext" in rows[0] else "text"
    return [row[column] for row in rows[:n]]


def compare(answers, predictions):
    """(max |probability difference| over every label, top-label disagreements)."""
    worst, disagreements = 0.0, 0
    for answer, prediction in zip(answers, predictions, strict=True):
        worst = max(worst, *(abs(answer[label] - p) for label, p in prediction["scores"].items()))
        disagreements += max(answer, key=answer.get) != prediction["label"]
    return worst, disagreements


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="hf_modules_"))
    import transformers
    from gradio_client import Client

    from modeling import BiLSTMForSequenceClassification
    from modeling.hub import upload as hub
    from modeling.hub.demo import build_demo, read_model_info
    from modeling.inference import pad_sequences

    texts = read_texts(args.test_file, args.n_texts)
    report = {"environment": environment(), "n_texts": len(texts),
              "versions": {name: version(name) for name in ("transformers", "gradio", "gradio_client")}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = hub.build_upload_folder(args.model_dir, Path(tmp) / "upload", "local/model")
        model = BiLSTMForSequenceClassification.from_pretrained(folder)
        predictions, seconds = timed(lambda: model.predict(texts))
        report["predict_texts_per_s"] = len(texts) / seconds

        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        ids, mask = pad_sequences([e.ids for e in model.tokenizer.encode_batch(texts)])
        report["auto_tokenizer_identical_texts"] = int(sum(
            torch.equal(a, b) and torch.equal(c, d)
            for a, b, c, d in zip(encoded["input_ids"], ids, encoded["attention_mask"], mask)))

        classifier = transformers.pipeline("text-classification", model=str(folder), trust_remote_code=True)
        out, seconds = timed(lambda: classifier(texts, top_k=None, batch_size=64))
        report["pipeline_texts_per_s"] = len(texts) / seconds
        report["pipeline_max_abs_diff"], report["pipeline_label_disagreements"] = compare(
            [{a["label"]: a["score"] for a in answer} for answer in out], predictions)

        app = build_demo(model, read_model_info(folder))
        app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        try:
            client = Client(app.local_url, verbose=False)
            batches, seconds = timed(lambda: [client.predict(texts[i:i + 64], api_name="/classify_batch")
                                              for i in range(0, len(texts), 64)])
            report["gradio_batch_texts_per_s"] = len(texts) / seconds
            single, seconds = timed(lambda: [client.predict(t, api_name="/classify") for t in texts[:20]])
            report["gradio_single_latency_ms"] = 1000 * seconds / len(single)
        finally:
            app.close()
        report["gradio_max_abs_diff"], report["gradio_label_disagreements"] = compare(
            [s for batch in batches for s in batch], predictions)
        single_worst, _ = compare([{c["label"]: c["confidence"] for c in s["confidences"]} for s in single],
                                  predictions[:20])
        report["gradio_max_abs_diff"] = max(report["gradio_max_abs_diff"], single_worst)
    path = write_json(report, args.output_dir, "interop.json")
    for key, value in report.items():
        if key != "environment":
            print(f"{key}: {value}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
