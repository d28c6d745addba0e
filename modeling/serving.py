"""Serving a saved model: onnxruntime on its exported graph, or torch — the same ``predict`` either way.

``load_for_inference(dir_or_repo, backend="auto")`` returns an :class:`OnnxBiLSTMClassifier` when the
folder or repo holds the ONNX graph written by ``modeling.hub.onnx_export`` and onnxruntime is installed
(``pip install "bilstm-text-classifier[onnx]"``), else the torch model. Both are
``modeling.inference.TextClassifier``s: tokenizing, length-sorted batching, padding, the probabilities and
``predict`` are shared, and only the logits differ in who computes them, so both backends give the same
results (logits within 1e-5, tests/hub/test_onnx.py).

The graph records a fingerprint of the weights it was exported from; a graph that no longer matches
``model.safetensors`` (the folder was trained again) is never used: ``auto`` warns and falls back to
torch, ``onnx`` refuses.

``backend="onnx-int8"`` serves the int8 graph (``model_int8.onnx``, written by ``scripts/export_onnx.py
--quantize int8`` only when it passed its accuracy gate, ``modeling.hub.onnx_int8``): faster and a
quarter of the size, but not exact, so it is used only when asked for (``auto`` never picks it). The
same fingerprint guard applies. Every model returned here says what serves it: :func:`describe_backend`.

This module is also copied into the Endpoint's ``bilstm_inference/`` package (``modeling.hub.upload``), so
it imports only what the Endpoints image has; onnxruntime is optional and imported lazily.
"""

import hashlib
import logging
import os
from pathlib import Path

import torch

from .config import BiLSTMConfig
from .inference import TextClassifier
from .model import BiLSTMForSequenceClassification, read_weights
from .source import CONFIG_FILE, WEIGHTS_FILE, resolve_source
from .tokenizer import load_tokenizer

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
# The Inference Endpoints toolkit downloads a repo without the files whose names match "*onnx*"
# (huggingface_inference_toolkit.utils, framework2weight), so the upload names the graph apart.
ENDPOINT_ONNX_FILE = "model_graph.pb"
ONNX_FILES = (ONNX_FILE, ENDPOINT_ONNX_FILE)
INT8_ONNX_FILE = "model_int8.onnx"
ENDPOINT_INT8_ONNX_FILE = "model_graph_int8.pb"
GRAPH_FILES = {"fp32": ONNX_FILES, "int8": (INT8_ONNX_FILE, ENDPOINT_INT8_ONNX_FILE)}  # by precision
FINGERPRINT_KEY = "bilstm_weights_sha256"
PRECISION_KEY = "bilstm_graph_precision"  # a graph without it is fp32
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
ONNX_BACKENDS = {"onnx": "fp32", "onnx-int8": "int8"}  # backend name -> graph precision
INSTALL_HINT = 'pip install "bilstm-text-classifier[onnx]"'


def onnxruntime_available():
    """Whether onnxruntime can be imported here."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def weights_fingerprint(state_dict):
    """SHA-256 over the weights' names, dtypes, shapes and bytes (sorted by name)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


class OnnxBiLSTMClassifier(TextClassifier):
    """An exported BiLSTM run by onnxruntime, with the torch model's ``predict`` / ``predict_proba``
    (both :class:`~modeling.inference.TextClassifier`'s).

    Build it with :meth:`from_pretrained`; ``config`` and ``tokenizer`` are those of the saved model.
    """

    def __init__(self, session, config, tokenizer, graph=ONNX_FILE, precision="fp32"):
        self.session, self.config, self.tokenizer = session, config, tokenizer
        self.graph, self.precision = graph, precision  # the graph's file name; "fp32" or "int8"

    @property
    def backend(self):
        """``"onnx"`` (the fp32 graph) or ``"onnx-int8"``, as ``load_for_inference`` names them."""
        return next(name for name, precision in ONNX_BACKENDS.items() if precision == self.precision)

    @classmethod
    def from_pretrained(cls, name_or_path, *, precision="fp32", num_threads=None, **hub_options):
        """Load the graph (``precision`` "fp32": ``model.onnx``; "int8": ``model_int8.onnx``), config and
        tokenizer of a folder, Hub repo or resolved ``ModelSource`` (HF cache options as the torch
        model's). ``num_threads`` sets onnxruntime's intra-op threads (default: its own choice)."""
        source = resolve_source(name_or_path, **hub_options)  # a typo'd local path fails here
        graph = find_onnx(source, precision=precision)
        if graph is None:
            flag = " --quantize int8" if precision == "int8" else ""
            raise FileNotFoundError(f"{source}: no {GRAPH_FILES[precision][0]} found; write one with"
                                    f" `python scripts/export_onnx.py --model_name_or_path {source}"
                                    f" --output_dir {source}{flag}`")
        session = onnx_session(graph, num_threads)
        metadata = session.get_modelmeta().custom_metadata_map
        if metadata.get(PRECISION_KEY, "fp32") != precision:
            raise ValueError(f"{graph} holds the {metadata.get(PRECISION_KEY, 'fp32')} graph, not the {precision} one")
        if metadata.get(FINGERPRINT_KEY) != weights_fingerprint(read_weights(source.file(WEIGHTS_FILE))):
            raise ValueError(f"{graph} was exported from other weights than {WEIGHTS_FILE} next to it"
                             " (was the model trained again?): export it again with scripts/export_onnx.py")
        config = BiLSTMConfig.from_dict(source.read_json(CONFIG_FILE))
        return cls(session, config, load_tokenizer(source), graph=Path(graph).name, precision=precision)

    def logits(self, input_ids, attention_mask):
        """Logits for a padded batch of token ids (long tensors), as the torch model's ``forward``."""
        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.session.run(["logits"], feed)[0])


def load_for_inference(name_or_path, backend="auto", *, num_threads=None, **hub_options):
    """The model for ``predict``: onnxruntime or torch.

    Args:
        name_or_path: a saved model folder, a Hub repo id, or a resolved ``modeling.source.ModelSource``.
        backend: ``"torch"``; ``"onnx"`` (fails if the graph or onnxruntime is missing or the graph
            is stale); ``"onnx-int8"``: the same for the int8 graph; ``"auto"``: onnx when the fp32
            graph is there, current and onnxruntime is installed, else torch (never int8).
        num_threads: onnxruntime intra-op threads (torch keeps its own setting).
        hub_options: ``revision``, ``cache_dir``, ``token``, ``local_files_only``, ``force_download``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    source = resolve_source(name_or_path, **hub_options)  # local first: a typo'd path must not wait on the Hub
    if backend in ONNX_BACKENDS and not onnxruntime_available():
        raise ModuleNotFoundError(f"the {backend} backend needs onnxruntime: {INSTALL_HINT}", name="onnxruntime")
    if backend in ONNX_BACKENDS:
        return OnnxBiLSTMClassifier.from_pretrained(source, precision=ONNX_BACKENDS[backend], num_threads=num_threads)
    if backend == "auto" and onnxruntime_available() and find_onnx(source) is not None:
        try:
            return OnnxBiLSTMClassifier.from_pretrained(source, num_threads=num_threads)
        except ValueError as err:
            logger.warning("not using onnxruntime: %s", err)
    return BiLSTMForSequenceClassification.from_pretrained(source)


def describe_backend(model):
    """What serves ``model``: ``"torch"``, or onnxruntime with the graph's precision and file name."""
    if isinstance(model, OnnxBiLSTMClassifier):
        return f"onnxruntime, {model.precision} graph {model.graph}"
    return "torch"


def find_onnx(name_or_path, precision="fp32", **hub_options):
    """Path of the ONNX graph of a folder, Hub repo or ``ModelSource``, or None: for ``precision``
    "fp32" ``model.onnx``, else ``model_graph.pb`` (its name in an upload); for "int8"
    ``model_int8.onnx``, else ``model_graph_int8.pb``."""
    return resolve_source(name_or_path, **hub_options).find(GRAPH_FILES[precision])


def onnx_session(path, num_threads=None):
    """An onnxruntime CPU session on ``path`` (``num_threads`` intra-op threads); a file onnxruntime
    cannot load is one ``ValueError`` line."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types for a bad file
        raise ValueError(f"{path}: onnxruntime cannot load this graph ({str(err).splitlines()[0]})") from None
