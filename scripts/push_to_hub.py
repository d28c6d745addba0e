"""Publish a trained model on the Hugging Face Hub in one commit.

    hf auth login
    python scripts/push_to_hub.py --model_dir runs/fake-news --hub_model_id your-name/bilstm-fake-news

uploads config.json, model.safetensors, tokenizer.json, the run's metrics and plots, README.md (the
model card rendered from model_card.md) and handler.py (+ bilstm_inference/, requirements.txt) for
Inference Endpoints. ``--dry_run DIR`` writes exactly that folder to DIR and uploads nothing.

    python scripts/push_to_hub.py --model_dir runs/fake-news --hub_model_id your-name/bilstm-fake-news \
        --space_id your-name/bilstm-fake-news-demo

also creates a Gradio Space that loads the model repo by id (README.md with ``sdk: gradio``, app.py,
demo.py, requirements.txt) and links it from the model card; with ``--dry_run DIR`` the two folders
go to DIR/model and DIR/space.
``--include_onnx`` adds the run's model.onnx (scripts/export_onnx.py), which the handler then serves
with onnxruntime.
"""

import argparse
import logging
import sys
from pathlib import Path

from modeling.cli import exit_on_error, setup_logging
from modeling.hub.upload import build_upload_folder, check_repo_id, check_run_folder, push_model_dir
from modeling.training.run_folder import check_finished
from modeling.hub.space import build_space_folder, push_space

logger = logging.getLogger(__name__)
SPACE_LICENSE = "apache-2.0"  # a Space holds this project's app code (setup.cfg), not the weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True, help="A train.py output folder (config.json, model.safetensors, tokenizer.json, ...).")
    parser.add_argument("--hub_model_id", help="Repo to push to, 'user-or-org/model-name' (created if missing). Required unless --dry_run.")
    parser.add_argument("--private", action="store_true", help="Create the repo private (an existing repo keeps its visibility).")
    parser.add_argument("--revision", help="Branch to commit to, created from main if missing (default: main).")
    parser.add_argument("--commit_message", help="Commit message (default: 'Upload BiLSTM text classifier').")
    parser.add_argument("--token", help="Hub token with write access (default: HF_TOKEN, then the token saved by `hf auth login`).")
    parser.add_argument("--create_pr", action="store_true", help="Open a pull request instead of committing to the branch.")
    parser.add_argument("--include_onnx", action="store_true",
                        help="Also upload model.onnx from --model_dir (as model_graph.pb; the Endpoint handler uses it with onnxruntime).")
    parser.add_argument("--dry_run", metavar="DIR", help="Write the folder that would be uploaded to DIR and upload nothing.")
    parser.add_argument("--dataset_id", help="Hub id of the data set the model was trained on, for the card's metadata.")
    parser.add_argument("--license", default="unknown",
                        help="License of the model weights for the card, a Hub license id (apache-2.0, mit,"
                             " cc-by-4.0, other, ...). Default: unknown, because the terms of the training data"
                             " decide it and only you know them (fake_or_real_news states none). A Space gets"
                             " the project code's apache-2.0.")
    parser.add_argument("--language", help="Language code of the texts, for the model card (default: train.py's"
                                           " guess from the data, else none).")
    parser.add_argument("--text_kind", help="What the texts are, for the card's first sentence, e.g. 'product reviews'"
                                            " (default: 'news articles' for REAL/FAKE labels, else 'texts').")
    parser.add_argument("--widget_text", action="append", help="An example input for the Hub page (repeat the flag;"
                                                               " default: texts of the validation split).")
    parser.add_argument("--tag", action="append", default=[], help="An extra tag for the card (repeat the flag).")
    parser.add_argument("--force", action="store_true", help="Push a run that did not finish (interrupted or killed).")
    parser.add_argument("--space_id", help="Also create/update this Gradio Space, 'user-or-org/space-name', which"
                                           " loads --hub_model_id; the model card links it.")
    args = parser.parse_args(argv)
    if args.dry_run is None and not args.hub_model_id:
        parser.error("--hub_model_id is required (or pass --dry_run DIR to only build the upload folder)")
    if args.space_id and not (args.hub_model_id and "/" in args.hub_model_id and "/" in args.space_id):
        parser.error("--space_id needs full ids, --hub_model_id user-or-org/model and --space_id user-or-org/space:"
                     " the Space loads the model by its id")
    return args


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    card_options = dict(dataset_id=args.dataset_id, license=args.license, language=args.language,
                        text_kind=args.text_kind, widget_texts=args.widget_text, tags=args.tag, space_id=args.space_id,
                        include_onnx=args.include_onnx)
    check_finished(args.model_dir, force=args.force)  # a Ctrl-C'd run holds a best-so-far model
    if args.dry_run is not None:
        if args.hub_model_id:
            check_repo_id(args.hub_model_id)
        check_run_folder(args.model_dir)
        model_out = Path(args.dry_run) / "model" if args.space_id else args.dry_run
        if args.space_id:
            space = build_space_folder(Path(args.dry_run) / "space", args.space_id, args.hub_model_id,
                                       revision=args.revision, license=SPACE_LICENSE)
            logger.info("Dry run: wrote the Space folder to %s", space)
        folder = build_upload_folder(args.model_dir, model_out, args.hub_model_id, **card_options)
        logger.info("Dry run: wrote the upload folder to %s (nothing was uploaded)", folder)
        return 0
    if args.space_id:
        check_repo_id(args.space_id)
    url = push_model_dir(args.model_dir, args.hub_model_id, private=args.private, revision=args.revision,
                         commit_message=args.commit_message, token=args.token, create_pr=args.create_pr,
                         **card_options)
    print(url)
    if args.space_id:
        print(push_space(args.space_id, args.hub_model_id, token=args.token, private=args.private,
                         revision=args.revision, license=SPACE_LICENSE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
