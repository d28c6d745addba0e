"""The int8 graph: ``model.onnx`` quantized by onnxruntime, kept only when it passes a gate on labelled data.

``quantize_dynamic`` rewrites the ``LSTM`` node as the contrib op ``DynamicQuantizeLSTM``, the
classifier's ``MatMul`` as ``MatMulInteger`` and the embedding's ``Gather`` as an int8 lookup
(a quarter of the size). Activations are quantized at run time with one scale per tensor, so the
logits move a little and depend on what else is in the batch.
Hence the gate: the int8 graph is scored against the fp32 model on a labelled split, alone and in
batches of ``predict``'s size, and written only when label agreement and accuracy stay within the
thresholds. Settings, chosen on the fake_or_real_news validation split (docs/BENCHMARKS.md,
"ONNX int8"): per-channel weights and ``reduce_range`` (7-bit weights). Without ``reduce_range``,
CPUs lacking AVX512-VNNI/AVX-VNNI run a kernel whose int16 sums can saturate, so a gate passed on a
VNNI CPU would not hold on them; with it, both kernels give the same results.
"""

import json
import logging
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..config import is_long_enough, short_text_reason
from ..inference import decide
from ..serving import FINGERPRINT_KEY, PRECISION_KEY, OnnxBiLSTMClassifier, onnx_session

GATE_FILE = "model_int8_gate.json"
MIN_AGREEMENT = 0.99  # share of labels equal to the fp32 model's
MAX_ACCURACY_DROP = 0.5  # accuracy points (percent) the int8 graph may lose
GATE_BATCH_SIZES = (1, 64)  # alone, and predict's / the Endpoint's batch size
QUANTIZATION = {"per_channel": True, "reduce_range": True, "weight_type": "QInt8",
                "op_types": ["LSTM", "MatMul", "Gather"]}


class QuantizationRefused(ValueError):
    """The int8 graph moved too many predictions; ``report`` holds the numbers."""

    def __init__(self, message, report):
        super().__init__(message)
        self.report = report


def quantize_graph(fp32_path, int8_path):
    """Write the int8 version of the graph at ``fp32_path`` to ``int8_path`` (no gate)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic advises onnxruntime's shape-inference pre-processing on the root logger: it
    # concerns static quantization; ours is dynamic and the graph is checked on data below.
    advice = _DropMessage("pre-processing before quantization")
    logging.getLogger().addFilter(advice)
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), op_types_to_quantize=QUANTIZATION["op_types"],
                         per_channel=QUANTIZATION["per_channel"], reduce_range=QUANTIZATION["reduce_range"],
                         weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(advice)
    graph = onnx.load(str(int8_path))
    props = {p.key: p.value for p in graph.metadata_props}  # the fp32 graph's, fingerprint included
    if FINGERPRINT_KEY not in props:
        raise ValueError(f"{fp32_path}: no weights fingerprint in this graph; export it with scripts/export_onnx.py")
    props.update({PRECISION_KEY: "int8", "bilstm_quantization": json.dumps(QUANTIZATION)})
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(int8_path))
    return Path(int8_path)


def gate_int8(model, int8_path, texts, labels, *, min_agreement=MIN_AGREEMENT, max_accuracy_drop=MAX_ACCURACY_DROP,
              source=None, dropped=0, batch_sizes=GATE_BATCH_SIZES):
    """Score ``texts`` (gold label ids ``labels``) with ``model`` (fp32 torch) and the int8 graph.

    Texts under the model's short-text rule (``config.min_text_chars``), which ``predict`` does not
    label, are not scored (their
    count, plus ``dropped`` rows that never reached ``texts``, is reported). Agreement and accuracy
    are the worst over ``batch_sizes`` (activations are quantized per batch, so labels can differ
    between a text scored alone and in a batch). ``max_accuracy_drop`` is in points (percent).
    Returns the report; raises :class:`QuantizationRefused` (one line with the numbers) when a
    threshold is missed.
    """
    import onnxruntime

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    min_chars = model.config.min_text_chars
    kept = [i for i, text in enumerate(texts) if is_long_enough(text, min_chars)]
    if not kept:
        raise ValueError(f"{source or 'the gate data'}: no text to score ({short_text_reason(min_chars)} in every row)")
    texts, gold = [texts[i] for i in kept], torch.tensor([labels[i] for i in kept])
    int8 = OnnxBiLSTMClassifier(onnx_session(int8_path), model.config, model.tokenizer,
                                graph=Path(int8_path).name, precision="int8")
    with torch.inference_mode():
        reference = model.predict_proba(texts, batch_size=max(batch_sizes))
    expected = decide(reference)
    n, expected_right = len(texts), int((expected == gold).sum())
    runs = {}
    for batch_size in batch_sizes:
        probs = int8.predict_proba(texts, batch_size=batch_size)
        got = decide(probs)
        differ = int((got != expected).sum())
        runs[batch_size] = {"agreement": (n - differ) / n, "labels_differing": differ,
                            "accuracy": int((got == gold).sum()) / n,
                            "max_abs_probability_difference": round(float((probs - reference).abs().max()), 6)}
    accuracy = min(r["accuracy"] for r in runs.values())
    agreement = min(r["agreement"] for r in runs.values())
    fp32_accuracy = expected_right / n
    drop = round(100 * (fp32_accuracy - accuracy), 6)
    report = {
        "graph": Path(int8_path).name, "source": None if source is None else str(source),
        "texts_scored": len(texts), "texts_unscored": len(labels) - len(texts) + dropped, "unscored_reason":
        f"{short_text_reason(min_chars)} (predict gives them no label)",
        "agreement": agreement, "labels_differing": max(r["labels_differing"] for r in runs.values()),
        "accuracy_fp32": fp32_accuracy, "accuracy_int8": accuracy, "accuracy_drop_points": drop,
        "thresholds": {"min_agreement": min_agreement, "max_accuracy_drop_points": max_accuracy_drop},
        "by_batch_size": {str(b): r for b, r in runs.items()},
        "quantization": dict(QUANTIZATION, onnxruntime=onnxruntime.__version__),
        "cpu": {"machine": platform.machine(), "vnni": cpu_has_vnni()},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "passed": agreement >= min_agreement and drop <= max_accuracy_drop,
    }
    if not report["passed"]:
        raise QuantizationRefused(
            f"int8 graph refused on {len(texts)} texts of {source or 'the gate data'}: label agreement"
            f" {100 * agreement:.2f}% (minimum {100 * min_agreement:.2f}%), accuracy {accuracy:.4f} vs fp32"
            f" {fp32_accuracy:.4f} (drop {drop:.2f} points, maximum {max_accuracy_drop:.2f}); nothing written", report)
    return report


def cpu_has_vnni():
    """Whether this CPU has AVX512-VNNI or AVX-VNNI (Linux /proc/cpuinfo), or None when unknown."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return None
    return bool({"avx512_vnni", "avx_vnni"} & set(flags.split()))


class _DropMessage(logging.Filter):
    def __init__(self, text):
        super().__init__()
        self.text = text

    def filter(self, record):
        return self.text not in record.getMessage()
