"""Inference Endpoints handler for a BiLSTM text classifier (bilstm-text-classifier).

The Endpoints toolkit puts this repository's folder on ``sys.path``, imports this file and calls
``EndpointHandler(model_dir)`` once, then ``handler(body)`` for each request, where ``body`` is the
request's JSON: ``{"inputs": "text" | ["text", ...], "parameters": {"top_k": k}}``. The answer is
one list per input of ``{"label", "score"}``, highest score first, also for a single string
(the official clients read element ``[0]``)::

    [[{"label": "FAKE", "score": 0.97}, {"label": "REAL", "score": 0.03}]]

A malformed request raises ``ValueError`` with a one-line message; the toolkit answers it with
HTTP 400 and ``{"error": "<message>"}`` (a returned dict would go out as a 200 success). So does a
text under the short-text rule the model was trained with (``min_text_chars`` in ``config.json``:
empty texts, or for models of the tutorial's recipe texts under 5 characters), which predict leaves
unlabelled and the demo refuses.

The model code comes from ``bilstm_inference/`` next to this file: a copy of the project's
inference modules, so the toolkit image (torch, tokenizers, safetensors, huggingface_hub) needs
nothing else installed. When the repo holds the exported graph (``model_graph.pb``, pushed with
``--include_onnx``) and onnxruntime is installed (its ``requirements.txt`` then asks for it), the
texts are classified by onnxruntime, with the same results; otherwise by torch. The environment
variable ``BILSTM_BACKEND`` (set in the Endpoint's settings) picks another backend: ``torch``, ``onnx``
or ``onnx-int8`` (the gated int8 graph ``model_graph_int8.pb``: faster, not exact; its gate's numbers
are in ``model_int8_gate.json`` and on the model card); the handler logs which one serves and keeps
it in ``self.backend`` / ``self.served_by``.
Generated from ``modeling/hub/templates/handler.py``; edit it there.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# The toolkit already inserts the model folder; this keeps `import handler` working from elsewhere too.
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from bilstm_inference import describe_backend, load_for_inference  # noqa: E402
from bilstm_inference.config import is_long_enough, short_text_reason  # noqa: E402

BACKEND_VARIABLE = "BILSTM_BACKEND"  # auto (default), torch, onnx, onnx-int8

MAX_BATCH_SIZE = 64  # texts per request
MAX_TEXT_CHARS = 100_000  # characters per text; the model reads only its first max_length tokens anyway
SUPPORTED_PARAMETERS = ("top_k",)


class EndpointHandler:
    """Load the model once from ``path``; classify the texts of each request."""

    def __init__(self, path=""):
        self.model = load_for_inference(path or _HERE, backend=os.environ.get(BACKEND_VARIABLE) or "auto")
        self.backend = getattr(self.model, "backend", "torch")
        self.served_by = describe_backend(self.model)
        print(f"EndpointHandler: serving with {self.served_by}", file=sys.stderr, flush=True)
        self.label_names = list(self.model.config.label_names)
        self.min_text_chars = self.model.config.min_text_chars  # the rule the model was trained with

    def __call__(self, data):
        """Return ``[[{"label", "score"}, ...], ...]``: one list per input, sorted by score."""
        texts = _read_inputs(data)
        top_k = _read_top_k(data.get("parameters"), len(self.label_names))
        _check_lengths(texts, self.min_text_chars)
        probabilities = self.model.predict_proba(texts, batch_size=MAX_BATCH_SIZE)
        results = []
        for row in probabilities.tolist():
            ranked = sorted(zip(self.label_names, row), key=lambda pair: pair[1], reverse=True)
            results.append([{"label": label, "score": score} for label, score in ranked[:top_k]])
        return results


def _read_inputs(data):
    if not isinstance(data, dict):
        raise ValueError(f'the request body must be a JSON object such as {{"inputs": "some text"}}, got {_kind(data)}')
    if "inputs" not in data:
        raise ValueError('the request has no "inputs": send {"inputs": "some text"} or {"inputs": ["text 1", "text 2"]}')
    inputs = data["inputs"]
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list):
        raise ValueError(f'"inputs" must be a string or a list of strings, got {_kind(inputs)}')
    if not texts:
        raise ValueError('"inputs" is an empty list: send at least one text')
    if len(texts) > MAX_BATCH_SIZE:
        raise ValueError(f'"inputs" holds {len(texts)} texts; the limit is {MAX_BATCH_SIZE} per request')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f'"inputs"[{i}] must be a string, got {_kind(text)}')
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f'"inputs"[{i}] has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}')
    return texts


def _check_lengths(texts, min_chars):
    """Refuse a text under the model's short-text rule, as predict (no label) and the demo do."""
    for i, text in enumerate(texts):
        if not is_long_enough(text, min_chars):
            raise ValueError(f'"inputs"[{i}]: {short_text_reason(min_chars)}; this model was trained without such'
                             f" texts (min_text_chars {min_chars} in its config.json)")


def _read_top_k(parameters, num_labels):
    if parameters is None:
        return num_labels
    if not isinstance(parameters, dict):
        raise ValueError(f'"parameters" must be a JSON object such as {{"top_k": 1}}, got {_kind(parameters)}')
    unknown = sorted(set(parameters) - set(SUPPORTED_PARAMETERS))
    if unknown:
        raise ValueError(f'unknown "parameters": {", ".join(map(str, unknown))} (supported: {", ".join(SUPPORTED_PARAMETERS)})')
    top_k = parameters.get("top_k")
    if top_k is None:
        return num_labels
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f'"top_k" must be a positive integer, got {top_k!r}')
    return min(top_k, num_labels)


def _kind(value):
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")
