"""Train the BiLSTM classifier with Accelerate: CPU, one or several GPUs, one or several nodes.

    # the whole workflow on the small synthetic demo CSV (about a minute on a laptop CPU)
    python scripts/train.py --output_dir outputs/demo

    # your data (prepared by scripts/prepare_data.py), on whatever `accelerate config` describes
    accelerate launch -q scripts/train.py --train_file data/news/train.csv \\
        --validation_file data/news/valid.csv --test_file data/news/test.csv --output_dir outputs/news

    # two-process DDP on a CPU-only machine (gloo)
    ACCELERATE_USE_CPU=1 accelerate launch -q --multi_gpu --num_processes 2 scripts/train.py ...

The model with the lowest validation loss is kept in --output_dir (config.json, model.safetensors,
tokenizer.json) with metrics.json, loss_curve.png, training_args.json and all_results.json; with a
test split also eval_results.json and confusion_matrix.png, as scripts/evaluate_model.py writes them.
The recipe itself is the library's ``modeling.training.recipe.train`` (this script only parses the flags).
"""

import os

from modeling.cli import close_process_group, exit_on_error, setup_logging
from modeling.training.options import parse_args as _parse_args
from modeling.training.recipe import run_training


def parse_args(argv=None):
    """Every flag, named as in the HF example scripts (``--help`` shows the defaults)."""
    return _parse_args(argv, description=__doc__.split("\n\n")[0])


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    # LOCAL_RANK is set by accelerate launch and torchrun; Accelerate's own state must not be
    # created before the Accelerator (it would miss ACCELERATE_USE_CPU and start a single process).
    setup_logging(os.environ.get("LOCAL_RANK", "0") == "0")
    results = run_training(args)
    close_process_group()
    return results


if __name__ == "__main__":
    main()
