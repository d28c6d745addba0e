"""modeling.utils: where a model lives (one resolver for every loader, local first) and file modes."""

import os
import stat

import pytest

import huggingface_hub
from modeling import BiLSTMForSequenceClassification
from modeling import model as model_module
from modeling import serving, tokenizer, utils
from modeling.cli import load_model
from modeling.utils import give_default_mode, model_source
from tests.hub.test_upload import tiny_model


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks the Hub for a file."""
    def ask(*args, **kwargs):
        raise AssertionError(f"the Hub was asked: {args} {kwargs}")

    for module in (utils, model_module, serving, tokenizer, huggingface_hub):
        for name in ("hf_hub_download", "snapshot_download"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, ask)


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    """The README's layout: outputs/ holds one run; the current folder is its parent."""
    tiny_model().save_pretrained(tmp_path / "outputs" / "fake_or_real_news")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "outputs"


TYPOS = ["outputs/fake_or_real_new", "./outputs/fake_or_real_new", "outputs/fake_or_real_news/extra/x",
         "../nowhere/model", "~/no-such-folder-here/model", "C:\\models\\run"]


@pytest.mark.parametrize("typo", TYPOS)
def test_a_typod_local_path_fails_at_once_in_every_loader(outputs, no_hub, typo):
    # Each loader the scripts, the library and the Endpoint use: none may ask the Hub first.
    loaders = [
        model_source,
        BiLSTMForSequenceClassification.from_pretrained,
        lambda name: serving.load_for_inference(name),                  # backend auto: looks for model.onnx
        lambda name: serving.load_for_inference(name, backend="torch"),
        serving.OnnxBiLSTMClassifier.from_pretrained,
        serving.find_onnx,
        tokenizer.load_tokenizer,
        lambda name: load_model(name, backend="auto"),
    ]
    for load in loaders:
        with pytest.raises(FileNotFoundError, match="no such local folder") as info:
            load(typo)
        assert str(info.value).startswith(typo)
    with pytest.raises(FileNotFoundError, match=r"outputs/ holds: fake_or_real_news"):
        model_source("outputs/fake_or_real_new")  # the message shows what is there


def test_local_first_then_a_repo_id(outputs, no_hub):
    assert model_source("outputs/fake_or_real_news") == outputs.relative_to(os.getcwd()) / "fake_or_real_news"
    assert model_source(outputs / "fake_or_real_news").is_dir()
    assert model_source("user/model") == "user/model" and model_source("model") == "model"  # repo ids, not folders
    assert serving.find_onnx("outputs/fake_or_real_news") is None  # a folder without a graph: no Hub either
    assert isinstance(serving.load_for_inference("outputs/fake_or_real_news"), BiLSTMForSequenceClassification)


def test_demo_model_info_is_local_first(outputs, no_hub):
    pytest.importorskip("gradio")  # the demo's page helpers come with the [demo] extra
    from tests.test_scripts import load_script

    demo = load_script("demo")
    with pytest.raises(FileNotFoundError, match="no such local folder"):
        demo.model_info("outputs/fake_or_real_new")
    assert demo.model_info("outputs/fake_or_real_news")["labels"]


def test_saved_files_get_the_default_mode(tmp_path):
    """model.safetensors gets the mode every other file gets (safetensors alone writes 600)."""
    tiny_model().save_pretrained(tmp_path / "run")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run").iterdir()}
    mask = os.umask(0)
    os.umask(mask)
    assert modes["model.safetensors"] == modes["config.json"] == 0o666 & ~mask
    path = tmp_path / "f"
    path.write_text("x")
    os.chmod(path, 0o600)
    give_default_mode(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
