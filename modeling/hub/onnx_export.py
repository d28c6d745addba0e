"""Export a trained model to ONNX (``model.onnx``) with dynamic batch and sequence axes.

The graph is traced from the model's own ``forward``, so it keeps the padding semantics exactly:
the backward LSTM reads each sequence reversed within its own length (an index computed from the
attention mask and applied with ``index_select``, exported as Gather), never the padding.

Exporter: the TorchScript-based one (``torch.onnx.export(..., dynamo=False)``). The
torch.export-based exporter (the default since torch 2.9) freezes the time axis of this pattern to
the traced length (pytorch#191855): with torch 2.13 / onnxscript 0.7 its graph fails in onnxruntime
on any other sequence length ("cannot reshape {1,1,64} to {1,1088}"). The TorchScript exporter
keeps the reshape sizes symbolic; every export is checked on shapes it was not traced with, and,
when given real texts (``scripts/export_onnx.py`` passes the run's validation split), on those at
the model's own lengths, as ``predict`` batches them.

Exactness: a logit may differ from torch's by ``ATOL + RTOL * |logit|``. The two runtimes sum in
other orders over up to ``max_length`` recurrent steps, so the difference grows with the logit:
on the fake_or_real_news model (logits up to 9, 200 tokens) it reached 3.8e-6 (relative 1e-6),
and 1.48e-5 was seen on another run. ``export_pretrained(quantize="int8")`` adds the int8 graph,
gated on labelled data (``modeling.hub.onnx_int8``).

Needs the ``[onnx]`` extra (onnx, onnxruntime); imported only by ``scripts/export_onnx.py``.
"""

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..inference import decide, pad_sequences, probabilities
from ..model import BiLSTMForSequenceClassification
from ..serving import FINGERPRINT_KEY, INT8_ONNX_FILE, ONNX_FILE, onnx_session, weights_fingerprint
from ..source import resolve_source
from ..utils import atomic_path
from .onnx_int8 import GATE_FILE, gate_int8, quantize_graph

OPSET = 17
ATOL, RTOL = 1e-5, 1e-5  # accepted |logit difference|: ATOL + RTOL * |torch's logit|
# (batch, tokens) of the check: none is the traced (2, 5), lengths are drawn at random within each;
# a batch at the model's max_length is added.
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
    if any logit differs from torch's by more than ``ATOL + RTOL * |logit|``.
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


def check_onnx(model, path, shapes=None, seed=0):
    """Run ``path`` in onnxruntime on padded batches of random ids of ``shapes`` (default:
    ``CHECK_SHAPES`` and 4 x ``max_length``); return the max |logit difference| against ``model``, or
    raise ``RuntimeError`` if one exceeds ``ATOL + RTOL * |logit|``."""
    shapes = shapes or (*CHECK_SHAPES, (4, model.config.max_length))
    session = onnx_session(path)
    generator = torch.Generator().manual_seed(seed)
    gap = _Gap()
    for batch, tokens in shapes:
        lengths = torch.randint(1, tokens + 1, (batch,), generator=generator).tolist()
        lengths[0] = tokens  # at least one row unpadded
        gap.add(model, session, *random_batch(model.config, lengths, tokens, generator), path)
    gap.check(path, "random token ids")
    return gap.worst


def check_onnx_texts(model, path, texts, batch_size=64):
    """Run ``path`` on real ``texts`` as ``predict`` does (tokenized to the model's ``max_length``,
    length-sorted batches of ``batch_size``) and compare every logit with ``model``'s.

    Returns ``{"texts", "max_tokens", "max_abs_logit_difference", "max_abs_logit", "labels_differing"}``;
    raises ``RuntimeError`` if a logit differs by more than ``ATOL + RTOL * |logit|``.
    """
    session = onnx_session(path)
    encodings = model.tokenizer.encode_batch(list(texts))
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    gap = _Gap()
    for start in range(0, len(order), batch_size):
        ids = [encodings[i].ids for i in order[start : start + batch_size]]
        gap.add(model, session, *pad_sequences(ids, model.config.pad_token_id), path)
    gap.check(path, f"{len(texts)} real texts")
    return {"texts": len(texts), "max_tokens": max(len(e.ids) for e in encodings),
            "max_abs_logit_difference": gap.worst, "max_abs_logit": gap.largest, "labels_differing": gap.labels_differing}


class _Gap:
    """Running comparison of the graph's logits with torch's."""

    def __init__(self):
        self.worst = self.largest = self.excess = 0.0
        self.labels_differing = 0

    def add(self, model, session, input_ids, mask, path):
        device = next(model.parameters()).device
        with torch.inference_mode():
            expected = model(input_ids.to(device), mask.to(device)).logits.cpu()
        got = session.run(["logits"], {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()})[0]
        if got.shape != tuple(expected.shape):
            raise RuntimeError(f"{path}: the ONNX graph gave logits of shape {got.shape} for a"
                               f" {' x '.join(map(str, input_ids.shape))} batch, torch {tuple(expected.shape)}")
        got = torch.from_numpy(got)
        diff = (got - expected).abs()
        self.worst = max(self.worst, float(diff.max()))
        self.largest = max(self.largest, float(expected.abs().max()))
        self.excess = max(self.excess, float((diff - RTOL * expected.abs()).max()))
        num_labels = model.config.num_labels
        self.labels_differing += int((decide(probabilities(got, num_labels)) !=
                                      decide(probabilities(expected, num_labels))).sum())

    def check(self, path, what):
        if self.excess > ATOL:
            raise RuntimeError(f"{path}: on {what} the ONNX graph's logits differ from torch's by up to {self.worst:.2e}"
                               f" (more than {ATOL:.0e} + {RTOL:.0e} x |logit|, largest |logit| {self.largest:.2f});"
                               " the export is not exact")


@dataclass
class Export:
    """What :func:`export_pretrained` wrote and measured."""

    onnx: Path  # the fp32 graph
    text_check: dict = None  # check_onnx_texts' numbers, when texts were given
    int8: Path = None  # the int8 graph, with quantize="int8"
    gate: dict = None  # its gate's numbers (also in GATE_FILE next to it)


def export_pretrained(model_name_or_path, output_dir, *, revision=None, opset=OPSET, check=True, texts=None,
                      labels=None, source=None, quantize=None, dropped=0, model=None, **gate_options):
    """Load a saved model (folder, Hub id or resolved ``ModelSource``) and write ``output_dir/model.onnx``
    next to its ``config.json``, ``model.safetensors`` and ``tokenizer.json`` (written there too when
    ``output_dir`` is another folder).

    Args:
        texts: real texts, e.g. the run's validation split: the fp32 graph is checked on them too.
        labels: their gold label ids (indices into ``config.label_names``): needed for ``quantize``.
        source: where the texts come from, for the messages and the gate's JSON.
        dropped: rows of ``source`` not in ``texts`` (cleaning dropped them): reported as unscored.
        model: the torch model already loaded from ``model_name_or_path``, if the caller has it.
        quantize: ``"int8"`` also writes ``model_int8.onnx`` and ``model_int8_gate.json``, only if the
            int8 graph passes :func:`modeling.hub.onnx_int8.gate_int8` (``gate_options``: its
            ``min_agreement``, ``max_accuracy_drop``) on ``texts``; refused, nothing is written.

    Returns:
        an :class:`Export`.
    """
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize and (texts is None or labels is None):
        raise ValueError("the int8 graph is written only after a gate on labelled texts: pass texts and labels")
    model_source = resolve_source(model_name_or_path, revision=revision)
    model = model or BiLSTMForSequenceClassification.from_pretrained(model_source)
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", suffix=".export", dir=output_dir.parent))
    try:  # everything is made and checked in `staging`, then moved: a refusal writes nothing
        result = Export(export_onnx(model, staging / ONNX_FILE, opset=opset, check=check))
        if check and texts:
            result.text_check = check_onnx_texts(model, result.onnx, texts)
            result.text_check["source"] = None if source is None else str(source)
        if quantize:
            result.int8 = quantize_graph(result.onnx, staging / INT8_ONNX_FILE)
            result.gate = gate_int8(model, result.int8, texts, labels, source=source, dropped=dropped,
                                    **gate_options)
            result.gate["size_bytes"] = {"fp32": result.onnx.stat().st_size, "int8": result.int8.stat().st_size}
            (staging / GATE_FILE).write_text(json.dumps(result.gate, indent=2) + "\n", encoding="utf-8")
        source_dir = model_source.folder
        if not (source_dir is not None and output_dir.exists() and source_dir.resolve() == output_dir.resolve()):
            model.save_pretrained(output_dir)
        for staged in sorted(staging.iterdir()):
            os.replace(staged, output_dir / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.onnx = output_dir / ONNX_FILE
    result.int8 = output_dir / INT8_ONNX_FILE if quantize else None
    return result


def random_batch(config, lengths, tokens, generator=None):
    """A right-padded batch of random non-special token ids with the given lengths."""
    low = min(2, config.vocab_size - 1)
    input_ids = torch.randint(low, config.vocab_size, (len(lengths), tokens), generator=generator)
    mask = (torch.arange(tokens).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()
    input_ids = input_ids.masked_fill(mask == 0, config.pad_token_id)
    return input_ids, mask
