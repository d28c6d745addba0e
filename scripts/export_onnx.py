"""Export a trained model to ONNX for onnxruntime: model.onnx next to its config and tokenizer.

    pip install -e ".[onnx]"
    python scripts/export_onnx.py --model_name_or_path outputs/news --output_dir outputs/news
    python scripts/predict.py --model_name_or_path outputs/news --backend onnx "Senate passes the budget bill"

The graph has dynamic batch and sequence axes and the model's exact padding semantics; after the
export, onnxruntime runs it on shapes it was not traced with and the script fails if any logit
differs from torch's by more than 1e-5. With another --output_dir, config.json, model.safetensors
and tokenizer.json are written there too, so the folder loads with either backend.
"""

import argparse
import sys

from modeling.cli import exit_on_error, load_model


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_name_or_path", required=True, help="A train.py output folder or a Hub repo id.")
    parser.add_argument("--output_dir", required=True, help="Folder for model.onnx (and the model files, if not the model's own folder).")
    parser.add_argument("--revision", help="Hub revision (branch, tag or commit) of --model_name_or_path.")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: %(default)s).")
    parser.add_argument("--no_check", dest="check", action="store_false",
                        help="Skip running the graph in onnxruntime against torch after the export.")
    return parser.parse_args(argv)


@exit_on_error
def main(argv=None):
    args = parse_args(argv)
    try:
        from modeling.hub.onnx_export import export_pretrained
        import onnx  # noqa: F401
    except ImportError as err:
        raise ValueError(f"exporting needs the onnx extra ({err}): pip install \"bilstm-text-classifier[onnx]\"") from None
    load_model(args.model_name_or_path, revision=args.revision)  # a bad folder or repo id: one clear line
    path = export_pretrained(args.model_name_or_path, args.output_dir, revision=args.revision, opset=args.opset,
                             check=args.check)
    print(f"wrote {path}", file=sys.stderr)
    return path


if __name__ == "__main__":
    main()
