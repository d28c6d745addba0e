"""The transformers files of a saved model, without transformers: what save_pretrained and the upload
folder write, and that our own loaders (from_pretrained, the vendored copy) are unaffected."""

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from modeling.hub import upload as hub
from modeling.transformers_files import CODE_FILES, MODEL_TYPE, TRANSFORMERS_FILES, transformers_config_keys
from tests.hub.test_upload import TEXTS, tiny_model

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_save_pretrained_writes_the_transformers_files(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(["config.json", "model.safetensors", "tokenizer.json",
                                                   *TRANSFORMERS_FILES])
    config = json.loads((tmp_path / "config.json").read_text())
    assert {k: config[k] for k in model.config.to_dict()} == model.config.to_dict()
    assert config["model_type"] == MODEL_TYPE and config["architectures"] == ["BiLSTMForSequenceClassification"]
    assert config["auto_map"]["AutoModelForSequenceClassification"] == "modeling_bilstm.BiLSTMForSequenceClassification"
    assert config["auto_map"]["AutoConfig"] == "configuration_bilstm.BiLSTMConfig"
    assert config["id2label"] == {"0": "REAL", "1": "FAKE"} and config["label2id"] == {"REAL": 0, "FAKE": 1}
    tokenizer_config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "PreTrainedTokenizerFast"  # not 5.x's TokenizersBackend
    assert tokenizer_config["model_max_length"] == model.config.max_length == 32
    assert (tokenizer_config["pad_token"], tokenizer_config["unk_token"]) == ("[PAD]", "[UNK]")
    assert tokenizer_config["model_input_names"] == ["input_ids", "attention_mask"]
    # The remote code imports only torch, transformers and its sibling file.
    for name in CODE_FILES:
        tree = ast.parse((tmp_path / name).read_text())
        imports = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for alias in node.names}
        imports |= {"." * node.level + (node.module or "").split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)}
        assert imports <= {"torch", "transformers", ".configuration_bilstm"}, (name, imports)


def test_our_loader_ignores_the_transformers_keys(tmp_path):
    from modeling import BiLSTMForSequenceClassification

    model = tiny_model()
    model.save_pretrained(tmp_path)
    loaded = BiLSTMForSequenceClassification.from_pretrained(tmp_path)
    assert loaded.config == model.config
    assert [p["scores"] for p in loaded.predict(TEXTS)] == [p["scores"] for p in model.predict(TEXTS)]


def test_without_transformers_save_and_load_still_work(tmp_path):
    """A core install (no transformers, no gradio) saves the same files and loads them back."""
    code = textwrap.dedent(f"""
        import sys
        sys.modules["transformers"] = None  # import transformers now raises ImportError
        sys.modules["gradio"] = None
        import modeling
        from tests.hub.test_upload import tiny_model, TEXTS
        model = tiny_model()
        model.save_pretrained({str(tmp_path)!r})
        again = modeling.BiLSTMForSequenceClassification.from_pretrained({str(tmp_path)!r})
        assert again.predict(TEXTS) == model.predict(TEXTS)
        print(sorted(name for name in sys.modules if name.startswith(("transformers", "gradio")) and sys.modules[name]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "modeling_bilstm.py").is_file() and (tmp_path / "tokenizer_config.json").is_file()


def test_upload_folder_adds_the_files_to_an_older_run(tmp_path):
    """A run saved before these files existed (plain config.json) gains them when it is pushed."""
    model = tiny_model()
    run = tmp_path / "run"
    model.save_pretrained(run)
    for name in TRANSFORMERS_FILES:
        (run / name).unlink()
    (run / "config.json").write_text(json.dumps(model.config.to_dict()))
    folder = hub.build_upload_folder(run, tmp_path / "upload")
    config = json.loads((folder / "config.json").read_text())
    assert {k: config[k] for k in transformers_config_keys(model.config)} == transformers_config_keys(model.config)
    assert all((folder / name).is_file() for name in TRANSFORMERS_FILES)


def test_the_vendored_copy_writes_no_auto_map_without_the_code(tmp_path):
    """bilstm_inference/ (in a Hub repo) has no remote-code sources: its save writes no auto_map to them."""
    model = tiny_model()
    model.save_pretrained(tmp_path / "run")
    folder = hub.build_upload_folder(tmp_path / "run", tmp_path / "upload")
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(folder)!r})
        from bilstm_inference import BiLSTMForSequenceClassification
        model = BiLSTMForSequenceClassification.from_pretrained({str(folder)!r})
        model.save_pretrained({str(tmp_path / "again")!r})
        print(json.dumps(sorted(json.load(open({str(tmp_path / "again" / "config.json")!r})))))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    keys = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "model_type" in keys and "id2label" in keys and "auto_map" not in keys
    assert not (tmp_path / "again" / "modeling_bilstm.py").exists()
