"""Can a hand-written recurrence in the ONNX graph beat onnxruntime's LSTM kernel?

The idea: the first layer's input projection ``x W_ih + b`` depends only on the token, so it can be
a lookup in a precomputed ``vocab x 4H`` table per direction, removing two thirds of the matmul
FLOPs. ONNX's ``LSTM`` op cannot take pre-projected inputs, so the recurrence is written out with
standard ops in a ``Loop`` (``--unroll`` steps per iteration, the time axis padded to a multiple of
it); the backward direction reads the ids reversed within each length, and max pooling over the
valid positions is kept running inside the loop. Only the default architecture (one bidirectional
layer, max pooling, two labels) is built.

This script times, interleaved, on random right-padded batches (speed does not depend on the
weights): torch ``forward``, the graph ``modeling.hub.onnx_export`` writes (onnxruntime's LSTM op), and
the folded graph; it checks the folded graph's logits against torch on shapes of 1 x 1 to 64 x 230.

    python bench/bench_onnx_recurrence.py [--threads 1] [--unroll 1 8]
      → bench/results/onnx_recurrence_t<threads>.json
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as `python bench/x.py`
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
from pathlib import Path

import numpy as np
import torch

from bench.bench_inference import interleaved_times
from bench.common import environment, write_json
from modeling import BiLSTMConfig, BiLSTMForSequenceClassification
from modeling.hub.onnx_export import random_batch, check_onnx, export_onnx

WORK_DIR = Path(__file__).resolve().parent / ".work" / "onnx_recurrence"
SHAPES = ((64, 128), (1, 128), (64, 200), (256, 128))
CHECK_SHAPES = ((1, 1), (1, 37), (7, 12), (64, 9), (3, 230), (64, 128))


def folded_graph(model, unroll):
    """The ONNX model (``onnx.ModelProto``) with the embedding folded into the input projection."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    if (cfg.num_layers, cfg.bidirectional, cfg.pooling, cfg.num_labels) != (1, True, "max", 2):
        raise ValueError("the folded graph is built for one bidirectional layer, max pooling, two labels")
    hidden, vocab = cfg.hidden_size, cfg.vocab_size
    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}

    def table(d):
        bias = sd[f"layers.0.{d}.bias_ih_l0"] + sd[f"layers.0.{d}.bias_hh_l0"]
        return sd["embedding.weight"] @ sd[f"layers.0.{d}.weight_ih_l0"].T + bias

    def const(name, value):
        return numpy_helper.from_array(np.asarray(value), name)

    node = helper.make_node
    inits = [
        const("TAB", np.concatenate([table("fwd"), table("bwd")]).astype(np.float32)),  # [2V, 4H]
        const("WHH", np.stack([sd["layers.0.fwd.weight_hh_l0"].T, sd["layers.0.bwd.weight_hh_l0"].T]).astype(np.float32)),
        const("CW", sd["classifier.weight"].T.astype(np.float32)), const("CB", sd["classifier.bias"].astype(np.float32)),
        const("V", np.array(vocab, np.int64)), const("one", np.array(1, np.int64)), const("zero", np.array(0, np.int64)),
        const("K", np.array(unroll, np.int64)), const("Km1", np.array(unroll - 1, np.int64)),
        const("ax0", np.array([0], np.int64)), const("ax1", np.array([1], np.int64)), const("zero1", np.array([0], np.int64)),
        const("ax13", np.array([1, 3], np.int64)), const("two1", np.array([2], np.int64)),
        const("H1", np.array([hidden], np.int64)), const("flat", np.array([0, -1], np.int64)),
        const("ninf", np.array(-np.inf, np.float32)), const("fzero", np.array(0, np.float32)), const("true", np.array(True)),
    ]
    nodes = [
        node("Shape", ["input_ids"], ["shape"]),
        node("Gather", ["shape", "zero"], ["B"], axis=0), node("Gather", ["shape", "one"], ["T"], axis=0),
        node("ReduceSum", ["attention_mask", "ax1"], ["L0"], keepdims=1), node("Max", ["L0", "one"], ["L"]),
        node("Range", ["zero", "T", "one"], ["steps"]), node("Unsqueeze", ["steps", "ax0"], ["steps2"]),
        # each sequence reversed within its own length, as the torch model's reverse_index
        node("Sub", ["L", "one"], ["last"]), node("LessOrEqual", ["steps2", "last"], ["inside"]),
        node("Sub", ["last", "steps2"], ["revpos"]), node("Where", ["inside", "revpos", "steps2"], ["revidx"]),
        node("GatherElements", ["input_ids", "revidx"], ["ids_rev"], axis=1),
        node("Add", ["ids_rev", "V"], ["ids_rev_off"]),  # the backward direction's rows of TAB
        node("Unsqueeze", ["input_ids", "ax0"], ["ids_f"]), node("Unsqueeze", ["ids_rev_off", "ax0"], ["ids_b"]),
        node("Concat", ["ids_f", "ids_b"], ["ids2"], axis=0), node("Transpose", ["ids2"], ["ids_tm"], perm=[2, 0, 1]),
        # time padded to a multiple of K; padded steps are masked out of the pooling
        node("Add", ["T", "Km1"], ["Tk"]), node("Div", ["Tk", "K"], ["chunks"]), node("Mul", ["chunks", "K"], ["Tp"]),
        node("Sub", ["Tp", "T"], ["padn"]), node("Unsqueeze", ["padn", "ax0"], ["padn1"]),
        node("Concat", ["zero1", "zero1", "zero1", "padn1", "zero1", "zero1"], ["pads_ids"], axis=0),
        node("Pad", ["ids_tm", "pads_ids"], ["ids_p"], mode="constant"),
        node("Less", ["steps2", "L"], ["valid"]), node("Where", ["valid", "fzero", "ninf"], ["negm"]),
        node("Transpose", ["negm"], ["neg_tm"], perm=[1, 0]),
        node("Concat", ["zero1", "zero1", "padn1", "zero1"], ["pads_neg"], axis=0),
        node("Pad", ["neg_tm", "pads_neg", "ninf"], ["neg_p"], mode="constant"),
        node("Unsqueeze", ["neg_p", "ax13"], ["NEG"]),  # [Tp, 1, B, 1]
        node("Gather", ["TAB", "ids_p"], ["P"], axis=0),  # [Tp, 2, B, 4H]: the input projections
        node("Unsqueeze", ["B", "ax0"], ["B1"]), node("Concat", ["two1", "B1", "H1"], ["hshape"], axis=0),
        node("ConstantOfShape", ["hshape"], ["h0"], value=numpy_helper.from_array(np.array([0], np.float32))),
        node("ConstantOfShape", ["hshape"], ["m0"], value=numpy_helper.from_array(np.array([-np.inf], np.float32))),
    ]
    body = [node("Mul", ["it", "K"], ["t0"]), node("Add", ["t0", "K"], ["t1"]),
            node("Unsqueeze", ["t0", "ax0"], ["t0v"]), node("Unsqueeze", ["t1", "ax0"], ["t1v"]),
            node("Slice", ["P", "t0v", "t1v", "ax0"], ["Pc"]), node("Slice", ["NEG", "t0v", "t1v", "ax0"], ["Nc"])]
    if unroll > 1:
        body += [node("Split", ["Pc"], [f"p{k}" for k in range(unroll)], axis=0, num_outputs=unroll),
                 node("Split", ["Nc"], [f"q{k}" for k in range(unroll)], axis=0, num_outputs=unroll)]
    else:
        body += [node("Identity", ["Pc"], ["p0"]), node("Identity", ["Nc"], ["q0"])]
    h, c, m = "h_in", "c_in", "m_in"
    for k in range(unroll):
        s = f"_{k}"
        body += [node("MatMul", [h, "WHH"], ["r" + s]), node("Squeeze", [f"p{k}", "ax0"], ["ps" + s]),
                 node("Add", ["ps" + s, "r" + s], ["g" + s]),
                 node("Split", ["g" + s], ["gi" + s, "gf" + s, "gg" + s, "go" + s], axis=2, num_outputs=4),
                 node("Sigmoid", ["gi" + s], ["i" + s]), node("Sigmoid", ["gf" + s], ["f" + s]),
                 node("Tanh", ["gg" + s], ["u" + s]), node("Sigmoid", ["go" + s], ["o" + s]),
                 node("Mul", ["f" + s, c], ["fc" + s]), node("Mul", ["i" + s, "u" + s], ["iu" + s]),
                 node("Add", ["fc" + s, "iu" + s], ["c" + s]), node("Tanh", ["c" + s], ["tc" + s]),
                 node("Mul", ["o" + s, "tc" + s], ["h" + s]), node("Squeeze", [f"q{k}", "ax0"], ["qs" + s]),
                 node("Add", ["h" + s, "qs" + s], ["hm" + s]), node("Max", [m, "hm" + s], ["m" + s])]
        h, c, m = "h" + s, "c" + s, "m" + s
    body += [node("Identity", ["cond_in"], ["cond_out"]), node("Identity", [h], ["h_out"]),
             node("Identity", [c], ["c_out"]), node("Identity", [m], ["m_out"])]
    f32 = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    loop_body = helper.make_graph(
        body, "step",
        [helper.make_tensor_value_info("it", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         f32("h_in"), f32("c_in"), f32("m_in")],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), f32("h_out"), f32("c_out"), f32("m_out")])
    nodes += [node("Loop", ["chunks", "true", "h0", "h0", "m0"], ["hT", "cT", "mT"], body=loop_body),
              node("Transpose", ["mT"], ["mB"], perm=[1, 0, 2]), node("Reshape", ["mB", "flat"], ["pooled"]),
              node("MatMul", ["pooled", "CW"], ["lin"]), node("Add", ["lin", "CB"], ["logits"])]
    ids_info = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in ("input_ids", "attention_mask")]
    graph = helper.make_graph(nodes, "bilstm_folded", ids_info,
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])], inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 9
    onnx.checker.check_model(proto)
    return proto


def ort_session(path, threads, profile=False):
    """An onnxruntime CPU session of ``path`` with ``threads`` intra-op threads (and the profiler)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = str(WORK_DIR / "profile")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def full_batch(config, batch, tokens):
    """A ``batch x tokens`` batch of random ids, no padding (speed does not depend on the ids)."""
    return random_batch(config, [tokens] * batch, tokens, torch.Generator().manual_seed(batch * tokens))


def op_profile(path, config, args, runs=5):
    """Kernel milliseconds per run by op type (onnxruntime's profiler) on one 64 x 128 batch."""
    import collections
    import json

    sess = ort_session(path, args.threads, profile=True)
    ids, mask = full_batch(config, 64, 128)
    for _ in range(runs):
        sess.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    events = json.loads(Path(sess.end_profiling()).read_text())
    total, calls = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["args"].get("op_name") != "Loop":
            total[e["args"]["op_name"]] += e["dur"] / 1e3 / runs
            calls[e["args"]["op_name"]] += 1
    print(f"\nonnxruntime kernel time of {path.name} on 64 x 128, ms per run (profiler on):")
    for op, ms in total.most_common():
        print(f"  {op:16s} {ms:7.2f} ms  {calls[op] // runs:5d} calls")
    return {op: {"ms": ms, "calls": calls[op] // runs} for op, ms in total.most_common()}


def main(argv=None):
    import onnx

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default: %(default)s)")
    ap.add_argument("--unroll", nargs="+", type=int, default=[1, 8], help="recurrence steps per Loop iteration")
    ap.add_argument("--vocab_size", type=int, default=15_951, help="the fakenews tokenizer's size (bench_inference)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--output_dir", default="bench/results")
    ap.add_argument("--profile", action="store_true",
                    help="also print onnxruntime's per-op kernel time of the last folded graph on 64 x 128")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(BiLSTMConfig(vocab_size=args.vocab_size)).eval()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    export_onnx(model, WORK_DIR / "exported.onnx")
    sessions = {"onnxruntime LSTM op (modeling.hub.onnx_export)": ort_session(WORK_DIR / "exported.onnx", args.threads)}
    exactness = {}
    for k in args.unroll:
        path = WORK_DIR / f"folded_unroll{k}.onnx"
        onnx.save(folded_graph(model, k), str(path))
        name = f"folded table + Loop, {k} step(s) per iteration"
        sessions[name] = ort_session(path, args.threads)
        # the export's own check: ragged batches, fails above its tolerance
        exactness[name] = check_onnx(model, path, shapes=CHECK_SHAPES)
        print(f"{name}: max |logit diff| vs torch {exactness[name]:.2e} over {len(CHECK_SHAPES)} ragged shapes")
    rows = []
    for b, t in SHAPES:
        ids, mask = full_batch(model.config, b, t)
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}

        def torch_forward():
            with torch.inference_mode():
                model(ids, mask)

        fns = [torch_forward] + [lambda s=s: s.run(["logits"], feed) for s in sessions.values()]
        times = interleaved_times(fns, args.repeats)
        for name, sec in zip(["torch forward"] + list(sessions), times):
            rows.append({"batch": b, "tokens": t, "backend": name, "ms": 1e3 * sec, "texts_per_s": b / sec,
                         "vs_torch": times[0] / sec})
    print("\n| batch x tokens | backend | ms per batch | texts/s | vs torch |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['batch']} x {r['tokens']} | {r['backend']} | {r['ms']:.2f} | {r['texts_per_s']:,.0f} | {r['vs_torch']:.2f}x |")
    profile = op_profile(WORK_DIR / f"folded_unroll{args.unroll[-1]}.onnx", model.config, args) if args.profile else None
    out = write_json({"environment": environment(), "threads": args.threads, "vocab_size": args.vocab_size,
                      "repeats": args.repeats, "max_abs_logit_diff": exactness, "rows": rows,
                      "op_profile_ms_per_run": profile},
                     args.output_dir, f"onnx_recurrence_t{args.threads}.json")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
