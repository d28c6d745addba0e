"""Classify texts with a trained model; print one JSON line per text (index, label and probabilities).

    python scripts/predict.py --model_name_or_path outputs/news "Senate passes the budget bill" "SHOCKING truth"
    python scripts/predict.py --model_name_or_path user/bilstm-fake-news --input_file articles.csv \\
        --output_file predictions.csv
    cat headlines.txt | python scripts/predict.py --model_name_or_path outputs/news --include_text
    accelerate launch scripts/predict.py --model_name_or_path outputs/news --input_file big.parquet \\
        --output_file predictions.parquet            # every GPU / process scores its share; --resume after a kill

Texts come from the arguments, else --input_file (a CSV/TSV, JSON lines or Parquet file with a text
column, or a .txt file with one text per line), else standard input (one text per line). There is
one output per input, in input order, blank lines included: each printed line is {"index": i,
"label": ..., "score": ..., "scores": {label: probability, ...}} (with "text" under --include_text).
A text under the model's short-text rule (min_text_chars in its config.json: empty texts, or under 5
characters for models of the tutorial's recipe), which training skipped, gets "label": null and a
"skipped" reason. --output_file writes .csv or .parquet (index, the input columns, label, score,
skipped and one prob_<label> column per label; the prediction's column is predicted_label, and index
input_index, where the input has a column of that name, e.g. the true label of a test file) or
.jsonl (the printed lines, with the text) instead.
The input is read, classified and written in chunks of --chunk_size rows, so memory stays flat
whatever its size; under `accelerate launch` each process classifies its share of every chunk and
the main process writes the one output file, in input order. The file appears only when complete;
a killed run leaves its progress next to it, and the same command with --resume goes on from the
last chunk written (modeling.data.scoring says how).
--backend auto (the default) runs onnxruntime when the model has a model.onnx (scripts/export_onnx.py)
and onnxruntime is installed, else torch; the results are the same. --backend onnx-int8 runs the int8
graph (export_onnx.py --quantize int8): faster, not exact (its gate's numbers are in
model_int8_gate.json). The backend that served is named on standard error.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import datasets
from accelerate import Accelerator, PartialState

from modeling.cli import close_process_group, exit_on_error, load_model
from modeling.config import short_text_reason
from modeling.data.arguments import DefaultsHelpFormatter, add_reading_arguments, batch_size_arg, threshold_arg
from modeling.data.scoring import DEFAULT_CHUNK_SIZE, OUTPUT_SUFFIXES, ScoringJob, score
from modeling.data.streaming import TextSource
from modeling.serving import BACKENDS, describe_backend


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("texts", nargs="*", help="Texts to classify.")
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--input_file", help="CSV/TSV, JSON lines or Parquet file with a text column, or a .txt file"
                                             " with one text per line.")
    parser.add_argument("--text_column", help="Text column of --input_file; default: titletext (or title + text),"
                                              " else text.")
    add_reading_arguments(parser)
    parser.add_argument("--output_file", help="Write predictions to this .csv, .jsonl or .parquet file instead of"
                                              " printing.")
    parser.add_argument("--resume", action="store_true",
                        help="Go on from where a killed run with the same --output_file stopped (its progress is"
                             " kept next to the output until the output is complete).")
    parser.add_argument("--include_text", action="store_true", help="Add each input text to the printed lines.")
    parser.add_argument("--batch_size", type=batch_size_arg, default=64, help="Texts per forward pass.")
    parser.add_argument("--chunk_size", type=batch_size_arg, default=DEFAULT_CHUNK_SIZE,
                        help="Rows read, classified (split across processes) and written at a time; a resumed run"
                             " goes on after the last chunk written.")
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
    if args.output_file and Path(args.output_file).suffix.lower() not in OUTPUT_SUFFIXES:
        parser.error(f"--output_file must end in {', '.join(OUTPUT_SUFFIXES)}")
    if args.resume and not args.output_file:
        parser.error("--resume continues an --output_file; printed predictions cannot be resumed")
    if (args.delimiter or args.column_names) and not args.input_file:
        parser.error("--delimiter and --column_names describe --input_file")
    return args


def text_source(args, num_processes):
    """Where the texts come from: the arguments, --input_file (streamed), or standard input."""
    if args.texts:
        return TextSource(texts=list(args.texts))
    if args.input_file:
        return TextSource.from_file(args.input_file, text_column=args.text_column, delimiter=args.delimiter,
                                    column_names=args.column_names)
    if num_processes > 1:  # only one process can read the terminal's standard input
        raise ValueError("under several processes, give the texts as --input_file")
    return TextSource(texts=sys.stdin)


def job_identity(args, model):
    """What a resumed run must share with the run it continues: the input file as it was, the model,
    and every option that changes the output."""
    identity = {"model_name_or_path": args.model_name_or_path, "revision": args.revision,
                "backend": describe_backend(model), "threshold": args.threshold, "text_column": args.text_column,
                "config": model.config.to_dict()}
    if args.input_file:
        stat = os.stat(args.input_file)
        identity["input_file"] = {"path": str(Path(args.input_file).resolve()), "size": stat.st_size,
                                  "mtime_ns": stat.st_mtime_ns}
    return identity


def printer(include_text):
    def print_record(chunk, i, pred):
        text = {"text": chunk.texts[i]} if include_text else {}
        print(json.dumps({"index": chunk.start + i, **text, **pred}, ensure_ascii=False))

    return print_record


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    datasets.disable_progress_bars()  # reading --input_file: one line per text is the output, nothing else
    # The Accelerator reads ACCELERATE_USE_CPU (CPU processes over gloo), which PartialState alone misses:
    # each process would then think it is the only one. Its state is the PartialState modeling.data.scoring uses.
    Accelerator()
    state = PartialState()
    # auto prefers torch where Accelerate found an accelerator (onnxruntime runs here on the CPU).
    backend = "torch" if args.backend == "auto" and state.device.type != "cpu" else args.backend
    source = text_source(args, state.num_processes)  # a bad file fails here, before the model loads
    model = load_model(args.model_name_or_path, revision=args.revision, backend=backend)
    if getattr(model, "backend", "torch") == "torch":  # onnxruntime runs on the CPU
        model.to(state.device)
    if state.is_main_process:
        print(f"backend: {describe_backend(model)}", file=sys.stderr)  # after the input checks: errors stay one line
    job = ScoringJob(args.output_file, job_identity(args, model), chunk_size=args.chunk_size, resume=args.resume)
    started = time.perf_counter()
    rows, scored, skipped = score(
        lambda texts: model.predict(texts, batch_size=args.batch_size, threshold=args.threshold), source, job,
        label_names=model.config.label_names, print_record=printer(args.include_text))
    seconds = time.perf_counter() - started
    if not rows:
        raise ValueError("no texts to classify: pass texts as arguments, --input_file, or lines on standard input")
    if state.is_main_process:
        if args.output_file:
            print(f"wrote {rows} predictions to {args.output_file} ({scored} texts in {seconds:.1f} s,"
                  f" {scored / seconds:,.0f} texts/s on {state.num_processes} process"
                  f"{'es' if state.num_processes > 1 else ''})", file=sys.stderr)
        if skipped:
            rule = model.config.min_text_chars
            print(f"warning: {skipped} of {scored} texts got no label: {short_text_reason(rule)}, which the model"
                  f" was trained without (min_text_chars {rule} in its config.json)", file=sys.stderr)
    close_process_group()
    return {"num_texts": rows, "num_scored": scored, "num_skipped": skipped, "seconds": seconds}


if __name__ == "__main__":
    main()
