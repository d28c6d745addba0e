"""transformers loads a saved model: AutoTokenizer with no custom code, AutoModel and pipeline() through
trust_remote_code, with our ids and our probabilities, from a folder and from a Hub repo id offline.

Needs the ``[transformers]`` extra (skipped without it) and ``../shared/data`` (skipped without it).
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

# transformers copies remote code into HF_MODULES_CACHE, read once at its import: keep it out of ~/.cache.
os.environ.setdefault("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="hf_modules_"))
transformers = pytest.importorskip("transformers")

from modeling import BiLSTMForSequenceClassification
from modeling.hub import upload as hub  # noqa: E402
from modeling.hf_interop import configuration_bilstm, modeling_bilstm  # noqa: E402
from modeling.inference import pad_sequences  # noqa: E402
from modeling.transformers_files import CODE_FILES, MODEL_TYPE, TRANSFORMERS_FILES  # noqa: E402
from tests.interop_models import binary_model, eval_texts, multiclass_model  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
KINDS = ("binary", "multiclass")


@pytest.fixture(scope="module")
def upload(tmp_path_factory):
    """kind -> (saved run folder, the upload folder a push sends)."""
    folders = {}
    for kind, build in (("binary", binary_model), ("multiclass", multiclass_model)):
        run = tmp_path_factory.mktemp(kind) / "run"
        build().save_pretrained(run)
        folders[kind] = run, hub.build_upload_folder(run, tmp_path_factory.mktemp(kind) / "upload", f"alice/{kind}")
    return folders


def ours(folder, texts):
    return BiLSTMForSequenceClassification.from_pretrained(folder).predict(texts)


def assert_same_predictions(pipeline_out, predictions, label_names):
    assert len(pipeline_out) == len(predictions)
    worst = 0.0
    for answer, prediction in zip(pipeline_out, predictions):
        assert {a["label"] for a in answer} == set(label_names)
        assert answer[0]["label"] == prediction["label"]  # highest score first
        for a in answer:
            worst = max(worst, abs(a["score"] - prediction["scores"][a["label"]]))
    assert worst <= 1e-6, worst
    return worst


def test_config_json_is_both_loaders_config(upload):
    run, folder = upload["binary"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == MODEL_TYPE == configuration_bilstm.MODEL_TYPE
    assert config["id2label"] == {"0": "REAL", "1": "FAKE"} and config["label2id"] == {"REAL": 0, "FAKE": 1}
    hf_config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True)
    assert hf_config.num_labels == 2 and hf_config.id2label == {0: "REAL", 1: "FAKE"}
    assert hf_config.max_length == 128 and hf_config.label_names == ["REAL", "FAKE"]
    assert sorted(p.name for p in folder.rglob("*.safetensors")) == ["model.safetensors"]  # one copy of weights
    for name in TRANSFORMERS_FILES:
        assert (run / name).read_bytes() == (folder / name).read_bytes()


@pytest.mark.parametrize("kind", KINDS)
def test_auto_tokenizer_gives_our_ids_and_mask(upload, kind):
    folder = upload[kind][1]
    model = BiLSTMForSequenceClassification.from_pretrained(folder)
    texts = eval_texts(kind)
    expected_ids, expected_mask = pad_sequences([e.ids for e in model.tokenizer.encode_batch(texts)])
    # trust_remote_code=False: transformers 5.x reads config.json first and would otherwise ask whether to
    # run the configuration code; the tokenizer itself needs none.
    loaders = [lambda: transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=False),
               lambda: transformers.PreTrainedTokenizerFast.from_pretrained(folder)]
    for load in loaders:
        tokenizer = load()
        assert tokenizer.model_max_length == model.config.max_length
        assert tokenizer.pad_token_id == model.config.pad_token_id == 0
        encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        assert sorted(encoded) == ["attention_mask", "input_ids"]
        assert torch.equal(encoded["input_ids"], expected_ids)
        assert torch.equal(encoded["attention_mask"], expected_mask)
    if kind == "binary":
        assert expected_mask.sum(1).eq(model.config.max_length).sum() > len(texts) // 2  # truncation happened


@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_from_a_folder_matches_predict(upload, kind):
    folder = upload[kind][1]
    texts = eval_texts(kind)
    classifier = transformers.pipeline("text-classification", model=str(folder), trust_remote_code=True)
    predictions = ours(folder, texts)
    assert_same_predictions(classifier(texts, top_k=None, batch_size=16), predictions,
                            classifier.model.config.label_names)
    assert len({p["label"] for p in predictions}) >= 2  # the comparison has teeth
    # The default call answers the top label only; truncation=True gives the same numbers.
    top = classifier(texts[:5], truncation=True)
    assert [t["label"] for t in top] == [p["label"] for p in predictions[:5]]
    assert [t["score"] for t in top] == pytest.approx([p["score"] for p in predictions[:5]], abs=1e-6)


def test_auto_model_loads_our_weights_and_computes_our_loss(upload):
    folder = upload["binary"][1]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    core = BiLSTMForSequenceClassification.from_pretrained(folder)
    theirs, mine = model.state_dict(), core.state_dict()
    assert sorted(theirs) == sorted(mine)
    assert all(torch.equal(theirs[k], mine[k]) for k in mine)
    texts = eval_texts("binary", 8)
    input_ids, mask = pad_sequences([e.ids for e in core.tokenizer.encode_batch(texts)])
    labels = torch.tensor([0, 1] * 4)
    out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
    expected = core(input_ids, mask, labels=labels)
    assert out.logits.shape == (8, 2) and torch.equal(out.logits[:, 0], torch.zeros(8))
    assert torch.allclose(out.logits[:, 1:], expected.logits, atol=1e-6)
    assert out.loss.item() == pytest.approx(expected.loss.item(), abs=1e-6)


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "last_max"])
@pytest.mark.parametrize("num_layers,bidirectional,labels", [(1, True, 2), (2, True, 3), (2, False, 2)])
def test_remote_code_forward_equals_ours(tmp_path, pooling, num_layers, bidirectional, labels):
    """The remote code restates model.py's forward: the two must agree for every layout."""
    from modeling import BiLSTMConfig

    names = ["a", "b", "c"][:labels]
    torch.manual_seed(0)
    core = BiLSTMForSequenceClassification(BiLSTMConfig(
        vocab_size=40, embedding_dim=12, hidden_size=10, num_layers=num_layers, bidirectional=bidirectional,
        pooling=pooling, label_names=names, max_length=9)).eval()
    core.save_pretrained(tmp_path)
    config = configuration_bilstm.BiLSTMConfig(**json.loads((tmp_path / "config.json").read_text()))
    remote = modeling_bilstm.BiLSTMForSequenceClassification(config).eval()
    remote.load_state_dict(core.state_dict(), strict=True)
    g = torch.Generator().manual_seed(1)
    ids, mask = pad_sequences([torch.randint(2, 40, (n,), generator=g).tolist() for n in (7, 3, 9, 1)])
    logits = remote(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
    expected = core(ids, mask).logits
    assert torch.allclose(core.probabilities(expected), logits.softmax(-1), atol=1e-6)
    longer = torch.cat([ids, torch.randint(2, 40, (4, 5), generator=g)], 1)  # past max_length: cut, as ours
    assert torch.allclose(remote(input_ids=longer, attention_mask=torch.ones_like(longer)).logits[:, -1],
                          remote(input_ids=longer[:, :9], attention_mask=torch.ones(4, 9)).logits[:, -1])


def populate_cache(cache, repo_id, folder, commit="c" * 40):
    """``folder`` laid out as the HF cache holds a downloaded repo (blobs, snapshot links, refs/main)."""
    from tests.hub.test_upload import populate_cache as populate_model_files

    populate_model_files(cache, repo_id, folder, commit, "main")
    snapshot = Path(cache) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit
    for path in sorted(Path(folder).rglob("*")):
        target = snapshot / path.relative_to(folder)
        if path.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def test_pipeline_and_auto_tokenizer_from_a_repo_id_offline(upload, tmp_path):
    cache = tmp_path / "hub"
    for kind in KINDS:
        populate_cache(cache, f"alice/{kind}", upload[kind][1])
    texts = {kind: eval_texts(kind, 50) for kind in KINDS}
    code = textwrap.dedent(f"""
        import json, sys
        from transformers import AutoTokenizer, pipeline
        texts = json.loads(sys.stdin.read())
        out = {{}}
        for kind in {list(KINDS)!r}:
            classifier = pipeline("text-classification", model="alice/" + kind, trust_remote_code=True)
            tokenizer = AutoTokenizer.from_pretrained("alice/" + kind, trust_remote_code=False)
            out[kind] = {{"pipeline": classifier(texts[kind], top_k=None),
                         "ids": tokenizer(texts[kind][:3], truncation=True)["input_ids"]}}
        print(json.dumps(out))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(cache),
           "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for kind in KINDS:
        run = upload[kind][0]
        model = BiLSTMForSequenceClassification.from_pretrained(run)
        assert_same_predictions(out[kind]["pipeline"], model.predict(texts[kind]), model.config.label_names)
        assert out[kind]["ids"] == [e.ids for e in model.tokenizer.encode_batch(texts[kind][:3])]
    ran = sorted(p.name for p in (tmp_path / "modules").rglob("*_bilstm.py"))  # the remote code came from the cache
    assert ran == sorted(CODE_FILES * len(KINDS))


@pytest.mark.parametrize("rule", [5, 1])
def test_pipeline_applies_the_short_text_rule_of_config_json(tmp_path, rule):
    """pipeline() refuses what predict leaves unlabelled: the rule the model was trained with
    (config.json min_text_chars), not a constant. Needs no shared data."""
    from tests.hub.test_upload import TEXTS, tiny_model

    model = tiny_model()
    model.config.min_text_chars = rule
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["min_text_chars"] == rule
    classifier = transformers.pipeline("text-classification", model=str(tmp_path), trust_remote_code=True)
    assert classifier.model.config.min_text_chars == rule
    texts = ["abcde", "abc", TEXTS[0]] if rule == 1 else ["abcde", TEXTS[0]]
    predictions = BiLSTMForSequenceClassification.from_pretrained(tmp_path).predict(texts)
    assert all(p["label"] for p in predictions)
    assert_same_predictions(classifier(texts, top_k=None), predictions, model.config.label_names)
    refused = ["", "   "] + (["abcd", "abc"] if rule == 5 else [])
    assert all(p["label"] is None for p in model.predict(refused))
    what = "shorter than 5 characters" if rule == 5 else "empty"
    for text in refused:
        with pytest.raises(ValueError, match=f"is {what}; this model was trained without such texts"):
            classifier(text)
        with pytest.raises(ValueError, match=f"min_text_chars {rule} in its config.json"):
            classifier([TEXTS[0], text])
