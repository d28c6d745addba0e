"""Evaluate a trained model on a labelled CSV: classification report, confusion matrix, eval_results.json.

    python scripts/evaluate_model.py --model_name_or_path outputs/news --test_file data/news/test.csv \\
        --output_dir outputs/news/eval

The file is cleaned as train.py cleans it (titletext from title and text) and scored by the same
function train.py uses, so the numbers match train.py's test_* results. Rows under the model's
short-text rule (min_text_chars in its config.json), which it gives no label, are not scored: their
count is printed, logged and saved as num_unscored.
Runs under `accelerate launch` too (the examples are shared between processes).
"""

import argparse
import sys
from pathlib import Path

from accelerate import Accelerator
from accelerate.logging import get_logger

from modeling.cli import exit_on_error, load_model, setup_logging
from modeling.data.arguments import add_file_format_arguments, batch_size_arg, threshold_arg
from modeling.source import EVAL_RESULTS_FILE
from modeling.training.evaluation import (
    CONFUSION_MATRIX_FILE, evaluate_model, label_order_warning, load_eval_dataset, make_eval_dataloader, record_unscored,
    save_eval_results,
)
from modeling.training.reporting import describe_accelerator
from modeling.training.metrics import format_classification_report

logger = get_logger(__name__)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--test_file", required=True, help="Labelled CSV/TSV, JSON lines or Parquet file to evaluate on.")
    parser.add_argument("--text_column", help="Text column; default: titletext (built from title and text), else text.")
    parser.add_argument("--label_column", default="label", help="Label column (default: %(default)s).")
    add_file_format_arguments(parser, label_names_help=(
        "The file's class names in its id order, e.g. FAKE,REAL for a file with 0=FAKE, 1=REAL: integer labels are"
        " read as ids into these names, then matched with the model's classes by name (default: the model's own"
        " order, config.json label_names)."))
    parser.add_argument("--threshold", type=threshold_arg, default=0.5,
                        help="Binary models predict the second label when its probability is above this"
                             " (default: %(default)s).")
    parser.add_argument("--output_dir", help="Write eval_results.json and confusion_matrix.png here"
                                             " (default: print only).")
    parser.add_argument("--per_device_eval_batch_size", type=batch_size_arg, default=64, help="Batch size (default: %(default)s).")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) of --model_name_or_path.")
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    accelerator = Accelerator()
    setup_logging(accelerator.is_local_main_process)
    logger.info(describe_accelerator(accelerator))
    model = load_model(args.model_name_or_path, revision=args.revision)
    if model.config.num_labels > 2 and args.threshold != 0.5:
        logger.warning("--threshold applies to binary models only: this one predicts the most probable label")
    with accelerator.main_process_first():
        # Rows under the model's short-text rule get no label from it: they are counted, not scored.
        encoded, _, unscored = load_eval_dataset(args.test_file, model.tokenizer, model.config.label_names,
                                                 text_column=args.text_column, label_column=args.label_column,
                                                 max_length=model.config.max_length,
                                                 min_text_chars=model.config.min_text_chars,
                                                 file_label_names=args.label_names, delimiter=args.delimiter,
                                                 column_names=args.column_names)
    dataloader = make_eval_dataloader(encoded, args.per_device_eval_batch_size, model.config.pad_token_id)
    model, dataloader = accelerator.prepare(model, dataloader)
    results = evaluate_model(model, dataloader, accelerator, threshold=args.threshold)
    if accelerator.is_main_process:
        record_unscored(results, unscored, accelerator.unwrap_model(model).config.min_text_chars, args.test_file)
        not_scored = f" ({unscored} labelled {'row' if unscored == 1 else 'rows'} not scored)" if unscored else ""
        binary = accelerator.unwrap_model(model).config.num_labels <= 2  # more labels: the most probable one wins
        print(f"{args.test_file}: {results['num_examples']} examples{not_scored}, loss {results['loss']:.4f},"
              f" {f'threshold {args.threshold}' if binary else 'most probable label'}\n")
        print(format_classification_report(results))
        warning = label_order_warning(results)
        if warning:  # loud: on stderr, after the report it explains
            print(f"warning: {warning}", file=sys.stderr)
        if args.output_dir:
            save_eval_results(results, args.output_dir, test_file=Path(args.test_file).name)
            print(f"wrote {Path(args.output_dir) / EVAL_RESULTS_FILE} and {CONFUSION_MATRIX_FILE}")
    return results


if __name__ == "__main__":
    main()
