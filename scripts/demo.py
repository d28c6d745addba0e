"""Try a trained model in the browser: a Gradio page with a text box and every class probability.

    pip install -e ".[demo]"
    python scripts/demo.py --model_name_or_path outputs/news            # a train.py output folder
    python scripts/demo.py --model_name_or_path your-name/bilstm-fake-news   # or a Hub repo id

then open http://127.0.0.1:7860. The page shows the model's name, labels and test accuracy, and the
model card's widget texts (or a few built-in examples) as clickable examples. The same app runs on a
Hugging Face Space (``push_to_hub.py --space_id``).
"""

import argparse
import logging
import os
import sys

from modeling.cli import exit_on_error, load_model, setup_logging
from modeling.serving import BACKENDS, describe_backend
from modeling.source import CONFIG_FILE, EVAL_RESULTS_FILE, resolve_source

logger = logging.getLogger(__name__)
INFO_FILES = [CONFIG_FILE, "README.md", EVAL_RESULTS_FILE, "all_results.json"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) of --model_name_or_path.")
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="auto (default, as predict.py and the Endpoint handler): onnx when the model has a"
                             " model.onnx and onnxruntime is installed, else torch; onnx: the exported model.onnx;"
                             " onnx-int8: its gated int8 graph (scripts/export_onnx.py --quantize int8). The page"
                             " says which one serves.")
    # Gradio's own variables (how containers and Spaces set the address) are the defaults, as in
    # gr.Blocks.launch(); the flags override them.
    parser.add_argument("--server_name", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="Address to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1; 0.0.0.0 to"
                             " serve the network).")
    parser.add_argument("--server_port", type=int, default=os.environ.get("GRADIO_SERVER_PORT", "7860"),
                        help="Port (default: $GRADIO_SERVER_PORT, else 7860).")
    parser.add_argument("--share", action="store_true", help="Also open a temporary public gradio.live link.")
    return parser.parse_args(argv)


def model_info(name_or_path, revision=None):
    """The page's header and examples, read from the folder or from the repo's small files
    (``name_or_path``: a name, or the ``ModelSource`` the model was loaded from)."""
    from modeling.hub.card import DEFAULT_WIDGET_TEXTS
    from modeling.hub.demo import read_model_info

    source = resolve_source(name_or_path, revision=revision)  # local first, as load_model
    if source.is_local:
        return read_model_info(source.folder, default_examples=DEFAULT_WIDGET_TEXTS)
    from huggingface_hub import snapshot_download

    path = snapshot_download(source.name, allow_patterns=INFO_FILES, **source.hub_options)
    return read_model_info(path, name=source.name, default_examples=DEFAULT_WIDGET_TEXTS)


def build(args):
    """Load the model and build the app (not launched)."""
    try:
        from modeling.hub.demo import build_demo
    except ImportError as err:
        raise ValueError(f"the demo needs gradio ({err}): pip install -e \".[demo]\"") from None
    source = resolve_source(args.model_name_or_path, revision=args.revision)  # once, for the model and the page
    model = load_model(source, backend=args.backend)
    info = dict(model_info(source), backend=describe_backend(model))
    logger.info("Backend: %s", info["backend"])
    return build_demo(model, info)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    setup_logging()
    demo = build(args)
    logger.info("Serving %s on http://%s:%d", args.model_name_or_path, args.server_name, args.server_port)
    demo.launch(server_name=args.server_name, server_port=args.server_port, share=args.share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
