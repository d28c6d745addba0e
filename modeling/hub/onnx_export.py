"""Export a trained model to ONNX (``model.onnx``) with dynamic batch and sequence axes.

The graph is traced from the model's own ``forward``, so it keeps the padding semantics exactly:
the backward LSTM reads each sequence reversed within its own length (an index computed from the
attention mask and applied with ``index_select``, exported as Gather), never the padding.

Exporter: the TorchScript-based one (``torch.onnx.export(..., dynamo=False)``). The
torch.export-based exporter (the default since torch 2.9) freezes the time axis of this pattern to
the traced length (pytorch#191855): with torch 2.13 / onnxscript 0.7 its graph fails in onnxruntime
on any other sequence length ("cannot reshape {1,1,64} to {1,1088}"). The TorchScript exporter
keeps the reshape sizes symbolic; every export is checked on shapes it was not traced with.

Needs the ``[onnx]`` extra (onnx, onnxruntime); imported only by ``scripts/export_onnx.py``.
"""

import warnings
from pathlib import Path

import torch
from torch import nn

from ..model import BiLSTMForSequenceClassification
from ..serving import FINGERPRINT_KEY, ONNX_FILE, weights_fingerprint
from ..utils import atomic_path

OPSET = 17
TOLERANCE = 1e-5  # max |logit difference| accepted by the check after export
# (batch, tokens) of the check: none is the traced (2, 5), lengths are drawn at random within each.
CHECK_SHAPES = ((1, 1), (1, 37), (7, 12), (64, 9), (3, 230))
_TRACE_LENGTHS = (5, 3)


class _Logits(nn.Module):
    """``forward(input_ids, attention_mask) -> logits``: the tensor-only signature ONNX needs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids, attention_mask).logits


def export_onnx(model, path, *, opset=OPSET, check=True):
    """Write ``model`` as an ONNX graph to ``path`` (atomically) and return ``path``.

    Inputs ``input_ids`` and ``attention_mask`` (int64, ``[batch, sequence]``, right-padded) and
    output ``logits`` have dynamic batch and sequence axes. The graph's metadata holds the weights'
    fingerprint (``modeling.serving`` refuses a graph whose weights changed since).
    With ``check``, onnxruntime runs the graph on shapes it was not traced with and the export fails
    if any logit differs from torch's by more than ``TOLERANCE``.
    """
    import onnx

    path = Path(path)
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        input_ids, mask = (t.to(device) for t in random_batch(model.config, _TRACE_LENGTHS, max(_TRACE_LENGTHS)))
        with atomic_path(path) as tmp, warnings.catch_warnings():
            # The legacy-exporter deprecation notice, and its advice to trace LSTMs with batch 1, which
            # concerns exported initial states (ours are zeros built from the input's batch size); the
            # check below runs other batch sizes.
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
            # nn.LSTM's checks of the input's feature size: constant for a given model, rightly frozen.
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            # The wrapper must be in eval mode too: the exporter restores the mode of the module it is
            # given, recursively, and a new (training) wrapper would switch dropout on in `model`.
            torch.onnx.export(
                _Logits(model).eval(), (input_ids, mask), str(tmp), dynamo=False, opset_version=opset,
                input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                              "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}},
            )
            graph = onnx.load(str(tmp))
            onnx.helper.set_model_props(graph, {
                FINGERPRINT_KEY: weights_fingerprint(model.state_dict()),
                "bilstm_exporter": f"torch.onnx.export(dynamo=False), torch {torch.__version__}, opset {opset}",
            })
            onnx.save(graph, str(tmp))
            if check:
                check_onnx(model, tmp)
    finally:
        model.train(was_training)
    return path


def check_onnx(model, path, shapes=CHECK_SHAPES, seed=0):
    """Run ``path`` in onnxruntime on padded batches of ``shapes``; return the max |logit difference|
    against ``model``, or raise ``RuntimeError`` if it exceeds ``TOLERANCE``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, tokens in shapes:
        lengths = torch.randint(1, tokens + 1, (batch,), generator=generator).tolist()
        lengths[0] = tokens  # at least one row unpadded
        input_ids, mask = random_batch(model.config, lengths, tokens, generator)
        device = next(model.parameters()).device
        with torch.inference_mode():
            expected = model(input_ids.to(device), mask.to(device)).logits.cpu()
        got = session.run(["logits"], {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()})[0]
        if got.shape != tuple(expected.shape):
            raise RuntimeError(f"{path}: the ONNX graph gave logits of shape {got.shape} for a {batch} x {tokens}"
                               f" batch, torch {tuple(expected.shape)}")
        worst = max(worst, float((torch.from_numpy(got) - expected).abs().max()))
    if worst > TOLERANCE:
        raise RuntimeError(f"{path}: the ONNX graph's logits differ from torch's by {worst:.2e}"
                           f" (more than {TOLERANCE:.0e}); the export is not exact")
    return worst


def export_pretrained(model_name_or_path, output_dir, *, revision=None, opset=OPSET, check=True):
    """Load a saved model (folder or Hub id) and write ``output_dir/model.onnx`` next to its
    ``config.json``, ``model.safetensors`` and ``tokenizer.json`` (written there too when
    ``output_dir`` is another folder). Returns the graph's path."""
    model = BiLSTMForSequenceClassification.from_pretrained(model_name_or_path, revision=revision)
    output_dir = Path(output_dir)
    source = Path(model_name_or_path)
    if not (source.is_dir() and output_dir.exists() and source.resolve() == output_dir.resolve()):
        model.save_pretrained(output_dir)
    return export_onnx(model, output_dir / ONNX_FILE, opset=opset, check=check)


def random_batch(config, lengths, tokens, generator=None):
    """A right-padded batch of random non-special token ids with the given lengths."""
    low = min(2, config.vocab_size - 1)
    input_ids = torch.randint(low, config.vocab_size, (len(lengths), tokens), generator=generator)
    mask = (torch.arange(tokens).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
    input_ids = input_ids.masked_fill(mask == 0, config.pad_token_id)
    return input_ids, mask
