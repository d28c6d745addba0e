"""Classify texts with a trained model; print one JSON line per text (index, label and probabilities).

    python scripts/predict.py --model_name_or_path outputs/news "Senate passes the budget bill" "SHOCKING truth"
    python scripts/predict.py --model_name_or_path user/bilstm-fake-news --input_file articles.csv \\
        --output_file predictions.csv
    cat headlines.txt | python scripts/predict.py --model_name_or_path outputs/news --include_text

Texts come from the arguments, else --input_file (a CSV/TSV, JSON lines or Parquet file with a text
column, read as train.py reads its files, or a .txt file with one text per line), else standard
input (one text per line). There is one output per input,
in input order, blank lines included: each printed line is {"index": i, "label": ..., "score": ...,
"scores": {label: probability, ...}} (with "text" under --include_text). A text under the model's
short-text rule (min_text_chars in its config.json: empty texts, or under 5 characters for models of
the tutorial's recipe), which training skipped, gets "label": null and a "skipped" reason.
--output_file writes .csv (index, the input columns, label, score, skipped and one prob_<label> column per
label; the prediction's column is predicted_label, and index input_index, where the input has a column
of that name, e.g. the true label of a test file) or .jsonl (the printed lines, with the text) instead.
--backend auto (the default) runs onnxruntime when the model has a model.onnx (scripts/export_onnx.py)
and onnxruntime is installed, else torch; the results are the same. --backend onnx-int8 runs the int8
graph (export_onnx.py --quantize int8): faster, not exact (its gate's numbers are in
model_int8_gate.json). The backend that served is named on standard error.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import datasets
from accelerate import PartialState

from modeling.cli import exit_on_error, load_model
from modeling.config import short_text_reason
from modeling.data.arguments import add_reading_arguments, batch_size_arg, threshold_arg
from modeling.data.cleaning import read_texts
from modeling.serving import BACKENDS, describe_backend
from modeling.utils import atomic_path

CHUNK = 4096  # texts encoded and classified at a time, so any input size runs in bounded memory


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("texts", nargs="*", help="Texts to classify.")
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--input_file", help="CSV/TSV, JSON lines or Parquet file with a text column, or a .txt file"
                                             " with one text per line.")
    parser.add_argument("--text_column", help="Text column of --input_file; default: titletext (or title + text),"
                                              " else text.")
    add_reading_arguments(parser)
    parser.add_argument("--output_file", help="Write predictions to this .csv or .jsonl file instead of printing.")
    parser.add_argument("--include_text", action="store_true", help="Add each input text to the printed lines.")
    parser.add_argument("--batch_size", type=batch_size_arg, default=64, help="Texts per forward pass.")
    parser.add_argument("--threshold", type=threshold_arg, default=0.5,
                        help="Binary models predict the second label when its probability is above this.")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) of --model_name_or_path.")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="onnx: onnxruntime on the model's model.onnx (scripts/export_onnx.py, the [onnx] extra);"
                             " onnx-int8: on its gated int8 graph model_int8.onnx (export_onnx.py --quantize int8);"
                             " auto (default): onnx when both are there, else torch.")
    args = parser.parse_args(argv)
    if args.texts and args.input_file:
        parser.error("give texts as arguments or --input_file, not both")
    if args.output_file and Path(args.output_file).suffix.lower() not in (".csv", ".jsonl"):
        parser.error("--output_file must end in .csv or .jsonl")
    if (args.delimiter or args.column_names) and not args.input_file:
        parser.error("--delimiter and --column_names describe --input_file")
    return args


def read_inputs(args):
    """Return (texts, rows): rows are the input records written next to each prediction."""
    if args.texts:
        texts = list(args.texts)
    elif args.input_file:
        ds, column = read_texts(args.input_file, text_column=args.text_column, delimiter=args.delimiter,
                                column_names=args.column_names)
        return list(ds[column]), ds.to_list()
    else:
        texts = [line.strip() for line in sys.stdin.read().splitlines()]
    return texts, [{"text": t} for t in texts]


def classify(model, texts, batch_size, threshold):
    for start in range(0, len(texts), CHUNK):
        yield from model.predict(texts[start : start + CHUNK], batch_size=batch_size, threshold=threshold)


def output_records(rows, predictions, include_text):
    """One JSON-able record per input: its index, the text when asked, then the prediction."""
    for index, (row, pred) in enumerate(zip(rows, predictions)):
        text = {"text": row["text"]} if include_text and "text" in row else {}
        yield {"index": index, **text, **pred}


def write_output(path, rows, predictions, label_names):
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        if path.suffix.lower() == ".jsonl":
            for record in output_records(rows, predictions, include_text=True):
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        fields = ["index" if "index" not in rows[0] else "input_index", *rows[0]]
        fields += ["label" if "label" not in rows[0] else "predicted_label", "score", "skipped"]
        fields += [f"prob_{name}" for name in label_names]
        writer = csv.writer(f)
        writer.writerow(fields)
        for index, (row, pred) in enumerate(zip(rows, predictions)):
            probs = [pred["scores"][name] for name in label_names] if pred["scores"] else [""] * len(label_names)
            writer.writerow([index, *row.values(), pred["label"] or "", "" if pred["score"] is None else pred["score"],
                             pred.get("skipped", ""), *probs])


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    datasets.disable_progress_bars()  # reading --input_file: one line per text is the output, nothing else
    # auto prefers torch where Accelerate found an accelerator (onnxruntime runs here on the CPU).
    backend = "torch" if args.backend == "auto" and PartialState().device.type != "cpu" else args.backend
    model = load_model(args.model_name_or_path, revision=args.revision, backend=backend)
    if getattr(model, "backend", "torch") == "torch":  # onnxruntime runs on the CPU
        model.to(PartialState().device)
    texts, rows = read_inputs(args)
    if not texts:
        raise ValueError("no texts to classify: pass texts as arguments, --input_file, or lines on standard input")
    print(f"backend: {describe_backend(model)}", file=sys.stderr)  # after the input checks: errors stay one line
    predictions = list(classify(model, texts, args.batch_size, args.threshold))
    if args.output_file:
        write_output(args.output_file, rows, predictions, model.config.label_names)
        print(f"wrote {len(predictions)} predictions to {args.output_file}", file=sys.stderr)
    else:
        for record in output_records(rows, predictions, args.include_text):
            print(json.dumps(record, ensure_ascii=False))
    skipped = sum(pred["label"] is None for pred in predictions)
    if skipped:
        rule = model.config.min_text_chars
        print(f"warning: {skipped} of {len(predictions)} texts got no label: {short_text_reason(rule)}, which the"
              f" model was trained without (min_text_chars {rule} in its config.json)", file=sys.stderr)
    return predictions


if __name__ == "__main__":
    main()
