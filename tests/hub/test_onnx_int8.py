"""The int8 graph: written only through its accuracy gate, refused when stale, opt-in in every
entry point, each of which says which graph served. Tiny models; speed and the real model's numbers
are in bench/bench_inference.py and docs/BENCHMARKS.md."""

import csv
import importlib.util
import json
import logging
import random
import shutil
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from modeling import BiLSTMForSequenceClassification  # noqa: E402
from modeling import serving  # noqa: E402
from modeling.hub import upload as hub  # noqa: E402
from modeling.hub.onnx_export import check_onnx_texts, export_pretrained  # noqa: E402
from modeling.hub.onnx_int8 import GATE_FILE, QuantizationRefused  # noqa: E402
from modeling.inference import decide, pad_sequences, probabilities  # noqa: E402
from modeling.serving import describe_backend, load_for_inference  # noqa: E402
from tests.hub.test_upload import REPO_ID, TEXTS, handler_process, tiny_model, write_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N_TEXTS = 3000  # enough texts near the decision boundary that int8 flips several labels


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def labels_of(model, texts):
    ids, mask = pad_sequences([e.ids for e in model.tokenizer.encode_batch(texts)])
    with torch.inference_mode():
        return decide(probabilities(model(ids, mask).logits, model.config.num_labels)).tolist()


@pytest.fixture(scope="module")
def gate_data():
    """A tiny model whose decision boundary cuts through the middle of ``N_TEXTS`` random texts
    (bias shifted to their median logit), with gold labels = its own: fp32 accuracy 1.0, and the
    int8 graph's small logit moves flip a few labels."""
    model = tiny_model()
    words = " ".join(TEXTS).split()
    rng = random.Random(0)
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(N_TEXTS)]
    ids, mask = pad_sequences([e.ids for e in model.tokenizer.encode_batch(texts)])
    with torch.no_grad():
        model.classifier.bias -= model(ids, mask).logits.flatten().median()
    return model, texts, labels_of(model, texts)


@pytest.fixture(scope="module")
def exported(gate_data, tmp_path_factory):
    """A run folder with model.onnx and the int8 graph, exported with the default thresholds."""
    model, texts, labels = gate_data
    folder = write_run(model, tmp_path_factory.mktemp("int8") / "run")
    result = export_pretrained(folder, folder, texts=texts, labels=labels, source="texts.csv", quantize="int8")
    return folder, result


def test_gate_passes_with_its_numbers_in_json_next_to_the_graph(exported):
    folder, result = exported
    gate = json.loads((folder / GATE_FILE).read_text())
    assert gate == result.gate and gate["passed"] and result.int8 == folder / serving.INT8_ONNX_FILE
    assert gate["texts_scored"] == N_TEXTS and gate["texts_unscored"] == 0 and gate["accuracy_fp32"] == 1.0
    # int8 is not exact: labels move, but fewer than the default 1% / 0.5 points allow
    assert 0 < gate["labels_differing"] <= 0.005 * N_TEXTS
    assert gate["agreement"] == min(r["agreement"] for r in gate["by_batch_size"].values())
    assert gate["accuracy_drop_points"] == pytest.approx(100 * (1 - gate["accuracy_int8"]), abs=1e-6)
    import onnx

    ops = {node.op_type for node in onnx.load(str(result.int8)).graph.node}
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= ops and "LSTM" not in ops  # a tiny model: no smaller file
    assert result.text_check["texts"] == N_TEXTS and result.text_check["max_abs_logit_difference"] <= 1e-5


@pytest.mark.parametrize("threshold", [{"min_agreement": 1.0}, {"max_accuracy_drop": 0.0}])
def test_gate_refuses_a_graph_that_disagrees_and_writes_nothing(gate_data, exported, tmp_path, threshold):
    model, texts, labels = gate_data
    folder = tmp_path / "run"
    shutil.copytree(exported[0], folder)
    for name in (serving.ONNX_FILE, serving.INT8_ONNX_FILE, GATE_FILE):
        (folder / name).unlink()
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(QuantizationRefused) as refused:
        export_pretrained(folder, folder, texts=texts, labels=labels, source="texts.csv", quantize="int8", **threshold)
    reached = exported[1].gate
    message = str(refused.value)
    assert f"label agreement {100 * reached['agreement']:.2f}%" in message and "nothing written" in message
    assert f"accuracy {reached['accuracy_int8']:.4f} vs fp32 1.0000" in message and "\n" not in message
    assert sorted(p.name for p in folder.iterdir()) == before  # not even the fp32 graph
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_export_script_gates_on_eval_file_and_refuses_in_one_line(gate_data, exported, tmp_path, capsys):
    model, texts, labels = gate_data
    export = load_script("export_onnx")
    eval_file = tmp_path / "eval.csv"
    with open(eval_file, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([t, model.config.label_names[y]] for t, y in zip(texts, labels))
    argv = ["--model_name_or_path", str(exported[0]), "--output_dir", str(tmp_path / "out"), "--quantize", "int8",
            "--eval_file", str(eval_file)]
    with pytest.raises(SystemExit) as exit_info:
        export.main(argv + ["--min_agreement", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.startswith("error: int8 graph refused") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    result = export.main(argv)
    err = capsys.readouterr().err
    assert f"ONNX fp32 vs torch on {N_TEXTS} texts of {eval_file}" in err and "max |logit difference|" in err
    assert f"int8 gate on {N_TEXTS} texts" in err and (tmp_path / "out" / GATE_FILE).is_file()
    assert result.gate["agreement"] == exported[1].gate["agreement"]
    with pytest.raises(SystemExit) as exit_info:  # a model without a run folder: no data to gate on
        export.main(["--model_name_or_path", str(tmp_path / "out"), "--output_dir", str(tmp_path / "o2"),
                     "--quantize", "int8"])
    assert exit_info.value.code == 1 and "--eval_file" in capsys.readouterr().err


def test_fp32_check_on_real_texts_catches_a_graph_that_differs(gate_data, exported):
    model, texts, _ = gate_data
    stats = check_onnx_texts(model, exported[0] / serving.ONNX_FILE, texts[:200])
    assert stats["texts"] == 200 and stats["labels_differing"] == 0 and stats["max_abs_logit"] > 0.1
    model.train()  # word dropout on: the graph no longer matches
    try:
        with pytest.raises(RuntimeError, match="real texts"):
            check_onnx_texts(model, exported[0] / serving.ONNX_FILE, texts[:200])
    finally:
        model.eval()


def test_every_backend_is_what_it_says(exported, gate_data):
    folder, _ = exported
    _, texts, _ = gate_data
    int8 = load_for_inference(folder, "onnx-int8")
    assert int8.backend == "onnx-int8" and describe_backend(int8) == "onnxruntime, int8 graph model_int8.onnx"
    fp32 = load_for_inference(folder, "onnx")
    assert describe_backend(fp32) == "onnxruntime, fp32 graph model.onnx"
    assert describe_backend(load_for_inference(folder, "auto")) == describe_backend(fp32)  # auto: never int8
    assert describe_backend(load_for_inference(folder, "torch")) == "torch"
    got, expected = int8.predict_proba(texts[:300]), fp32.predict_proba(texts[:300])
    assert 0 < float((got - expected).abs().max()) < 0.05  # not the fp32 graph, but close to it


def test_stale_or_misplaced_int8_graph_is_refused(exported, tmp_path, caplog):
    folder = tmp_path / "run"
    shutil.copytree(exported[0], folder)
    model = BiLSTMForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        model.classifier.bias += 1.0
    model.save_pretrained(folder)  # trained again; both graphs left behind
    with pytest.raises(ValueError, match="other weights"):
        load_for_inference(folder, "onnx-int8")
    with caplog.at_level(logging.WARNING):
        assert describe_backend(load_for_inference(folder, "auto")) == "torch"
    with pytest.raises(ValueError, match="other weights"):
        hub.build_upload_folder(folder, tmp_path / "up", include_onnx=True)
    shutil.copyfile(exported[0] / serving.INT8_ONNX_FILE, folder / serving.ONNX_FILE)  # int8 under the fp32 name
    with pytest.raises(ValueError, match="holds the int8 graph"):
        load_for_inference(folder, "onnx")
    (folder / serving.INT8_ONNX_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="--quantize int8"):
        load_for_inference(folder, "onnx-int8")


def test_predict_script_names_the_backend(exported, capsys):
    predict = load_script("predict")
    runs = {}
    for backend, said in (("torch", "torch"), ("onnx", "onnxruntime, fp32 graph model.onnx"),
                          ("onnx-int8", "onnxruntime, int8 graph model_int8.onnx"), ("auto", "onnxruntime, fp32")):
        runs[backend] = predict.main(["--model_name_or_path", str(exported[0]), "--backend", backend, *TEXTS])
        assert f"backend: {said}" in capsys.readouterr().err
    assert [p["label"] for p in runs["onnx-int8"]] == [p["label"] for p in runs["torch"]]


def test_upload_carries_the_int8_graph_and_the_endpoint_serves_it_when_asked(exported, tmp_path):
    folder = hub.build_upload_folder(exported[0], tmp_path / "up", REPO_ID, include_onnx=True)
    assert (folder / serving.ENDPOINT_INT8_ONNX_FILE).read_bytes() == (exported[0] / serving.INT8_ONNX_FILE).read_bytes()
    assert json.loads((folder / GATE_FILE).read_text()) == exported[1].gate
    assert not [p for p in folder.rglob("*") if "onnx" in p.name]  # the toolkit skips "*onnx*" names
    card = (folder / "README.md").read_text()
    assert "BILSTM_BACKEND=onnx-int8" in card and f"{100 * exported[1].gate['agreement']:.2f}%" in card
    assert "model_graph_int8.pb" not in (hub.build_upload_folder(exported[0], tmp_path / "plain") / "README.md").read_text()
    for variable, backend in ((None, "onnx"), ("onnx-int8", "onnx-int8"), ("torch", "torch")):
        proc = handler_process(sys.executable, folder, [{"inputs": TEXTS}], tmp_path,
                               environment={"BILSTM_BACKEND": variable} if variable else None)
        assert json.loads(proc.stdout.strip().splitlines()[-1])["backend"] == backend
        assert f"EndpointHandler: serving with {describe_backend_name(backend)}" in proc.stderr


def describe_backend_name(backend):
    return {"onnx": "onnxruntime, fp32 graph model_graph.pb", "onnx-int8": "onnxruntime, int8 graph model_graph_int8.pb",
            "torch": "torch"}[backend]


def test_demo_page_says_which_graph_serves(exported, monkeypatch):
    pytest.importorskip("gradio")
    from modeling.hub import demo as demo_module

    demo = load_script("demo")
    seen = {}
    monkeypatch.setattr(demo_module, "build_demo", lambda model, info: seen.update(info=info, model=model))
    demo.build(demo.parse_args(["--model_name_or_path", str(exported[0]), "--backend", "onnx-int8"]))
    assert seen["model"].backend == "onnx-int8"
    assert "Served by: onnxruntime, int8 graph model_int8.onnx" in demo_module.header_markdown(seen["info"])
    demo.build(demo.parse_args(["--model_name_or_path", str(exported[0])]))
    assert describe_backend(seen["model"]) == "torch"  # the demo's default is unchanged
