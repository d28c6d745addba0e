"""ONNX export and the onnxruntime backend: exact logits on real texts and unseen shapes, the backend
choice of predict.py and the Endpoint handler, the stale-graph guard, the upload with the graph."""

import csv
import hashlib
import importlib.util
import json
import logging
import os
import random
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer  # noqa: E402
from modeling import serving
from modeling.hub import upload as hub  # noqa: E402
from modeling.inference import pad_sequences  # noqa: E402
from modeling.hub.onnx_export import ATOL, RTOL, check_onnx, export_onnx  # noqa: E402
from modeling.serving import OnnxBiLSTMClassifier, load_for_inference  # noqa: E402
from tests.hub.test_upload import (  # noqa: E402
    REPO_ID, TEXTS, handler_process, populate_cache, tiny_model, write_run,
)

ROOT = Path(__file__).resolve().parents[2]
NEWS = ROOT.parent / "shared" / "data" / "fake_or_real_news"
FULLTEXT, TRUNCATED = NEWS / "fulltext_valid_test", NEWS / "truncated128"
csv.field_size_limit(sys.maxsize)


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_texts(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [row["titletext"] for row in csv.DictReader(f)]


# ------------------------------------------------------------------ real texts, exact logits
@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A default-size model trained a few steps on fake_or_real_news, exported; 260 real test texts
    of 1 to 256 tokens (truncated128 articles, full-text articles, and articles cut short)."""
    if not (FULLTEXT / "test.csv").is_file() or not (TRUNCATED / "train.csv").is_file():
        pytest.skip(f"real data not found at {NEWS}")
    fake_news_dir = TRUNCATED
    train = read_texts(fake_news_dir / "train.csv")
    tokenizer = train_tokenizer([train], min_frequency=3, max_length=256)
    config = BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), max_length=256)
    torch.manual_seed(0)
    model = BiLSTMForSequenceClassification(config)
    model.tokenizer = tokenizer
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    labels = [0 if row.startswith("R") else 1 for row in _labels(fake_news_dir / "train.csv")]
    for step in range(15):  # enough that the logits spread well beyond the tolerance
        batch = range(32 * step, 32 * step + 32)
        ids, mask = pad_sequences([e.ids[:64] for e in tokenizer.encode_batch([train[i] for i in batch])])
        loss = model(ids, mask, labels=torch.tensor([labels[i] for i in batch])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    folder = tmp_path_factory.mktemp("real") / "model"
    model.save_pretrained(folder)
    export_onnx(model, folder / "model.onnx")
    rng = random.Random(0)
    short = [" ".join(t.split()[: rng.randint(1, 40)]) for t in read_texts(TRUNCATED / "test.csv")[100:160]]
    texts = read_texts(TRUNCATED / "test.csv")[:100] + read_texts(FULLTEXT / "test.csv")[:100] + short
    return model, OnnxBiLSTMClassifier.from_pretrained(folder), texts


def _labels(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [row["label"] for row in csv.DictReader(f)]


def test_real_texts_cover_short_and_long(real):
    model, _, texts = real
    lengths = [len(e.ids) for e in model.tokenizer.encode_batch(texts)]
    assert len(texts) >= 200 and min(lengths) <= 5 and max(lengths) == 256
    assert sum(n > 200 for n in lengths) >= 50 and sum(n < 100 for n in lengths) >= 50


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_logits_match_torch_on_padded_and_unpadded_batches(real, batch_size):
    model, onnx_model, texts = real
    encodings = model.tokenizer.encode_batch(texts)
    worst, excess, padded_batches, spread = 0.0, 0.0, 0, []
    for start in range(0, len(texts), batch_size):  # input order: lengths mixed, so batches are padded
        ids = [e.ids for e in encodings[start : start + batch_size]]
        shortest = min(len(i) for i in ids)
        for batch in (ids, [i[:shortest] for i in ids]):  # padded, then cut to one length (unpadded)
            input_ids, mask = pad_sequences(batch)
            padded_batches += int(not bool(mask.all()))
            with torch.inference_mode():
                expected = model(input_ids, mask).logits
            got = onnx_model.logits(input_ids, mask)
            assert got.shape == expected.shape
            worst = max(worst, float((got - expected).abs().max()))
            excess = max(excess, float(((got - expected).abs() - RTOL * expected.abs()).max()))
            spread += expected.flatten().tolist()
    # the export's own tolerance: fp32 sums in another order over up to 256 steps, growing with |logit|
    assert excess <= ATOL and worst <= 1e-4
    if batch_size > 1:
        assert padded_batches > len(texts) // batch_size // 2
    assert torch.tensor(spread).std() > 0.1  # logits far apart, so 1e-5 is a real test


def test_padding_changes_no_onnx_logit(real):
    model, onnx_model, texts = real
    encodings = model.tokenizer.encode_batch(texts[:64])
    together = onnx_model.logits(*pad_sequences([e.ids for e in encodings]))
    alone = torch.cat([onnx_model.logits(*pad_sequences([e.ids])) for e in encodings])
    assert (together - alone).abs().max() <= 1e-5


def test_predict_gives_identical_labels_and_scores(real):
    model, onnx_model, texts = real
    for batch_size in (1, 7, 64):
        expected, got = model.predict(texts, batch_size=batch_size), onnx_model.predict(texts, batch_size=batch_size)
        assert [p["label"] for p in got] == [p["label"] for p in expected]
        assert [p.get("skipped") for p in got] == [p.get("skipped") for p in expected]
        scored = [(a, b) for a, b in zip(got, expected) if b["label"] is not None]
        assert len(scored) >= 200 and max(abs(a["score"] - b["score"]) for a, b in scored) <= 1e-6
    assert len({p["label"] for p in expected} - {None}) == 2
    single, reference = onnx_model.predict(texts[0]), model.predict(texts[0])
    assert single["label"] == reference["label"] and single["score"] == pytest.approx(reference["score"], abs=1e-6)


# ------------------------------------------------------------------------ export and guard
@pytest.fixture
def tiny_dir(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_export_records_fingerprint_and_checks_untraced_shapes(tiny_dir):
    import onnx

    model = BiLSTMForSequenceClassification.from_pretrained(tiny_dir)
    path = export_onnx(model, tiny_dir / "model.onnx")
    assert not model.training  # the exporter restores its wrapper's mode; dropout must stay off
    graph = onnx.load(str(path))
    props = {p.key: p.value for p in graph.metadata_props}
    assert props[serving.FINGERPRINT_KEY] == serving.weights_fingerprint(model.state_dict())
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.graph.input]
    assert dims == [["batch", "sequence"], ["batch", "sequence"]]
    assert check_onnx(model, path, shapes=((2, 300), (50, 2), (1, 1))) <= 1e-5
    model.train()  # dropout on: the check must notice a graph that no longer matches
    with pytest.raises(RuntimeError, match="differ from torch"):
        check_onnx(model, path)


def test_stale_graph_is_refused_or_skipped(tiny_dir, caplog):
    model = BiLSTMForSequenceClassification.from_pretrained(tiny_dir)
    export_onnx(model, tiny_dir / "model.onnx")
    assert isinstance(load_for_inference(tiny_dir), OnnxBiLSTMClassifier)
    with torch.no_grad():
        model.classifier.bias += 1.0
    model.save_pretrained(tiny_dir)  # trained again; model.onnx left behind
    with pytest.raises(ValueError, match="other weights"):
        load_for_inference(tiny_dir, "onnx")
    with caplog.at_level(logging.WARNING):
        fallback = load_for_inference(tiny_dir, "auto")
    assert isinstance(fallback, BiLSTMForSequenceClassification) and "not using onnxruntime" in caplog.text


def test_backend_choice(tiny_dir, monkeypatch):
    assert isinstance(load_for_inference(tiny_dir), BiLSTMForSequenceClassification)  # no graph yet
    with pytest.raises(FileNotFoundError, match="no model.onnx"):
        load_for_inference(tiny_dir, "onnx")
    export_onnx(BiLSTMForSequenceClassification.from_pretrained(tiny_dir), tiny_dir / "model.onnx")
    assert isinstance(load_for_inference(tiny_dir, "torch"), BiLSTMForSequenceClassification)
    assert load_for_inference(tiny_dir, "auto").backend == "onnx"
    with pytest.raises(ValueError, match="backend must be one of"):
        load_for_inference(tiny_dir, "tensorrt")
    monkeypatch.setattr(serving, "onnxruntime_available", lambda: False)
    assert isinstance(load_for_inference(tiny_dir, "auto"), BiLSTMForSequenceClassification)
    with pytest.raises(ModuleNotFoundError, match=r"\[onnx\]"):
        load_for_inference(tiny_dir, "onnx")


def test_repo_id_from_the_hub_cache_offline(tiny_dir, tmp_path):
    export_onnx(BiLSTMForSequenceClassification.from_pretrained(tiny_dir), tiny_dir / "model.onnx")
    cache = tmp_path / "cache"
    populate_cache(cache, REPO_ID, tiny_dir, "c" * 40, "main")
    assert isinstance(load_for_inference(REPO_ID, cache_dir=cache), BiLSTMForSequenceClassification)  # no graph cached
    snapshot = cache / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / ("c" * 40)
    data = (tiny_dir / "model.onnx").read_bytes()
    blob = snapshot.parents[1] / "blobs" / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    (snapshot / serving.ENDPOINT_ONNX_FILE).symlink_to(os.path.relpath(blob, snapshot))  # as pushed
    got = load_for_inference(REPO_ID, cache_dir=cache)
    assert got.backend == "onnx"
    expected = BiLSTMForSequenceClassification.from_pretrained(tiny_dir).predict(TEXTS)
    assert [p["label"] for p in got.predict(TEXTS)] == [p["label"] for p in expected]


# ----------------------------------------------------------------------------- the scripts
def test_export_script_and_predict_backends(tiny_dir, tmp_path, capsys):
    export, predict = load_script("export_onnx"), load_script("predict")
    out = tmp_path / "exported"
    export.main(["--model_name_or_path", str(tiny_dir), "--output_dir", str(out)])
    from modeling.transformers_files import TRANSFORMERS_FILES

    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "tokenizer.json", "model.onnx",
                                               *TRANSFORMERS_FILES}
    runs = {}
    capsys.readouterr()
    for backend in ("torch", "onnx", "auto"):
        predict.main(["--model_name_or_path", str(out), "--backend", backend, *TEXTS])
        runs[backend] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # one line per text
    assert [p["label"] for p in runs["onnx"]] == [p["label"] for p in runs["torch"]]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(runs["onnx"], runs["torch"])) <= 1e-6
    assert runs["auto"] == runs["onnx"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--model_name_or_path", str(tiny_dir), "--backend", "onnx", "text"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.startswith("error: ") and "no model.onnx" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        export.main(["--model_name_or_path", str(tmp_path / "nowhere"), "--output_dir", str(out)])
    assert exit_info.value.code == 1 and "no such local folder" in capsys.readouterr().err


# ------------------------------------------------------------------------ upload and Endpoint
@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory):
    run = write_run(tiny_model(), tmp_path_factory.mktemp("run") / "output")
    export_onnx(BiLSTMForSequenceClassification.from_pretrained(run), run / "model.onnx")
    return run


def test_upload_with_onnx_and_the_endpoint_serves_it(onnx_run, tmp_path):
    plain = hub.build_upload_folder(onnx_run, tmp_path / "plain")
    assert not (plain / serving.ENDPOINT_ONNX_FILE).exists()  # opt-in
    folder = hub.build_upload_folder(onnx_run, tmp_path / "up", REPO_ID, include_onnx=True)
    assert (folder / serving.ENDPOINT_ONNX_FILE).read_bytes() == (onnx_run / "model.onnx").read_bytes()
    assert not [p for p in folder.rglob("*") if "onnx" in p.name]  # the toolkit skips "*onnx*" names
    requirements = [line for line in (folder / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert requirements == ["onnxruntime>=1.17"]
    expected = BiLSTMForSequenceClassification.from_pretrained(onnx_run).predict(TEXTS)
    for blocked, backend in (((), "onnx"), (("onnxruntime",), "torch")):
        proc = handler_process(sys.executable, folder, [{"inputs": TEXTS}], tmp_path, *blocked)
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        assert answer["backend"] == backend
        (results,) = [a["ok"] for a in answer["answers"]]
        assert [r[0]["label"] for r in results] == [p["label"] for p in expected]
        assert [r[0]["score"] for r in results] == pytest.approx([p["score"] for p in expected], abs=1e-6)


def test_include_onnx_without_a_current_graph_is_one_clear_error(tmp_path, capsys):
    run = write_run(tiny_model(), tmp_path / "run")
    push = load_script("push_to_hub")
    argv = ["--model_dir", str(run), "--include_onnx", "--dry_run", str(tmp_path / "up")]
    with pytest.raises(SystemExit) as exit_info:
        push.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "no model.onnx to include" in err and err.count("\n") == 1
    export_onnx(tiny_model(seed=3), run / "model.onnx")  # another model's graph
    with pytest.raises(SystemExit) as exit_info:
        push.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and "other weights" in err and err.count("\n") == 1
    assert not (tmp_path / "up").exists()


@pytest.mark.parametrize("source, ok", [("import onnxruntime\n", False), ("def f():\n    import onnxruntime\n", True),
                                        ("def f():\n    import onnx\n", False)])
def test_vendored_code_may_import_onnxruntime_only_lazily(source, ok):
    if ok:
        hub._check_vendorable("serving.py", source)
    else:
        with pytest.raises(RuntimeError, match="onnx"):
            hub._check_vendorable("serving.py", source)
