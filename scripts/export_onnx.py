"""Export a trained model to ONNX for onnxruntime: model.onnx next to its config and tokenizer.

    pip install -e ".[onnx]"
    python scripts/export_onnx.py --model_name_or_path outputs/news --output_dir outputs/news
    python scripts/predict.py --model_name_or_path outputs/news --backend onnx "Senate passes the budget bill"
    python scripts/export_onnx.py --model_name_or_path outputs/news --output_dir outputs/news --quantize int8
    python scripts/predict.py --model_name_or_path outputs/news --backend onnx-int8 "Senate passes the budget bill"

The graph has dynamic batch and sequence axes and the model's exact padding semantics; after the
export, onnxruntime runs it on shapes it was not traced with and on real texts (the run's validation
split, or --eval_file) at the model's own lengths, prints the largest logit difference to torch,
and fails if one exceeds 1e-5 + 1e-5 x |logit|. With another --output_dir, config.json,
model.safetensors and tokenizer.json are written there too, so the folder loads with either backend.

--quantize int8 also writes model_int8.onnx (dynamic int8 quantization by onnxruntime: faster and a
quarter of the size, not exact) and model_int8_gate.json, but only if, on the labelled texts, the
int8 graph's labels agree with the fp32 model's on at least --min_agreement of them and its accuracy
drops by at most --max_accuracy_drop points (scored alone and in batches of 64; the worse counts).
Otherwise one line with the numbers, and nothing is written.
"""

import argparse
import json
import sys
from pathlib import Path

from modeling.cli import exit_on_error, load_model
from modeling.data.arguments import add_reading_arguments
from modeling.source import resolve_source

QUANTIZE_CHOICES = ("int8",)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--output_dir", required=True, help="Folder for model.onnx (and the model files, if not the model's own folder).")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) of --model_name_or_path.")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: %(default)s).")
    parser.add_argument("--no_check", dest="check", action="store_false",
                        help="Skip running the graph in onnxruntime against torch after the export.")
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES,
                        help="Also write model_int8.onnx, gated on labelled texts (see --eval_file).")
    parser.add_argument("--eval_file", help="Labelled CSV/TSV, JSON lines or Parquet file for the checks and the int8"
                                            " gate (default: the run's --validation_file, from its training_args.json).")
    parser.add_argument("--text_column", help="Text column of --eval_file (default: the run's, else titletext or text).")
    parser.add_argument("--label_column", help="Label column of --eval_file (default: the run's, else label).")
    add_reading_arguments(parser)
    parser.add_argument("--min_agreement", type=float, default=0.99,
                        help="int8 gate: least share of labels equal to the fp32 model's (default: %(default)s).")
    parser.add_argument("--max_accuracy_drop", type=float, default=0.5,
                        help="int8 gate: most accuracy points the int8 graph may lose (default: %(default)s).")
    args = parser.parse_args(argv)
    if not 0.0 <= args.min_agreement <= 1.0:
        parser.error(f"--min_agreement must be in [0, 1], got {args.min_agreement}")
    if args.max_accuracy_drop < 0:
        parser.error(f"--max_accuracy_drop must be at least 0, got {args.max_accuracy_drop}")
    if (args.delimiter or args.column_names) and not args.eval_file:
        parser.error("--delimiter and --column_names describe --eval_file")
    if args.quantize and not args.check:
        parser.error("--quantize needs the checks: drop --no_check")
    return args


def run_settings(source):
    """The run's training_args.json (a local train.py folder), else {}."""
    path = None if source.folder is None else source.folder / "training_args.json"
    return json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else {}


def eval_data(args, model, source):
    """(texts, label ids, source, rows dropped) of --eval_file or the run's validation file; None
    when neither is available (then the int8 gate cannot run)."""
    run = run_settings(source)
    path = args.eval_file or run.get("validation_file")
    if path is None:
        return None
    if not args.eval_file and not Path(path).is_file():
        raise FileNotFoundError(f"the run's validation file {path} (training_args.json) is not here; pass --eval_file")
    import datasets

    from modeling.data.cleaning import read_labelled_file

    datasets.disable_progress_bars()  # a few hundred rows: the bars would only be noise
    reading = ({"delimiter": args.delimiter, "column_names": args.column_names} if args.eval_file else
               {"delimiter": run.get("delimiter"), "column_names": run.get("column_names")})
    ds, text_column, _, stats = read_labelled_file(
        path, text_column=args.text_column or run.get("text_column"),
        label_column=args.label_column or run.get("label_column") or "label", **reading,
        first_n_words=model.config.max_length,
        min_text_chars=model.config.min_text_chars,
        label_names=model.config.label_names, label_names_given="model (config.json label_names)")
    return list(ds[text_column]), list(ds["label"]), path, stats.rows_dropped_short


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    try:
        from modeling.hub.onnx_export import export_pretrained
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ValueError(f"exporting needs the onnx extra ({err}): pip install \"bilstm-text-classifier[onnx]\"") from None
    model_source = resolve_source(args.model_name_or_path, revision=args.revision)  # once, for both loads below
    model = load_model(model_source)  # a bad folder or repo id: one clear line
    data = eval_data(args, model, model_source) if args.check else None
    if args.quantize and data is None:
        raise ValueError("--quantize int8 gates the int8 graph on labelled texts: pass --eval_file (the model has no"
                         " run validation file)")
    texts, labels, source, dropped = data or (None, None, None, 0)
    if args.check and data is None:
        print("no labelled file (--eval_file, or a run's validation split): the graph is checked on random token ids"
              " only", file=sys.stderr)
    result = export_pretrained(model_source, args.output_dir, opset=args.opset,
                               check=args.check, texts=texts, labels=labels, source=source, quantize=args.quantize,
                               min_agreement=args.min_agreement, max_accuracy_drop=args.max_accuracy_drop,
                               dropped=dropped, model=model)
    if result.text_check:
        c = result.text_check
        print(f"ONNX fp32 vs torch on {c['texts']} texts of {source} (up to {c['max_tokens']} tokens): max |logit"
              f" difference| {c['max_abs_logit_difference']:.2e} (largest |logit| {c['max_abs_logit']:.2f}; tolerance"
              f" 1e-05 + 1e-05 x |logit|), {c['labels_differing']} labels differ", file=sys.stderr)
    print(f"wrote {result.onnx}", file=sys.stderr)
    if result.gate:
        g = result.gate
        print(f"int8 gate on {g['texts_scored']} texts of {source}: labels agree {100 * g['agreement']:.2f}%"
              f" ({g['labels_differing']} differ; minimum {100 * args.min_agreement:.2f}%), accuracy"
              f" {g['accuracy_int8']:.4f} vs fp32 {g['accuracy_fp32']:.4f} (drop {g['accuracy_drop_points']:.2f}"
              f" points; maximum {args.max_accuracy_drop:.2f})", file=sys.stderr)
        print(f"wrote {result.int8} ({g['size_bytes']['int8'] / 1e6:.1f} MB, fp32 {g['size_bytes']['fp32'] / 1e6:.1f} MB)"
              " and its gate's numbers in model_int8_gate.json", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
