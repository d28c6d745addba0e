"""modeling.source: where a model lives (resolved once per load, local first, the Hub asked once) and
what a load reads; truncated weights are one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import huggingface_hub
from modeling import BiLSTMForSequenceClassification
from modeling import model as model_module
from modeling import serving, source, tokenizer
from modeling.cli import load_model
from modeling.source import CONFIG_FILE, WEIGHTS_FILE, ModelSource, resolve_source
from tests.hub.test_upload import populate_cache, tiny_model

ROOT = Path(__file__).resolve().parents[1]
# A closed port on the loopback interface: every request to this "Hub" is refused at once, as on a
# machine without network (DNS failure and refused connections are what such a machine gives).
CLOSED_ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks the Hub for a file."""
    def ask(*args, **kwargs):
        raise AssertionError(f"the Hub was asked: {args} {kwargs}")

    for module in (source, model_module, serving, tokenizer, huggingface_hub):
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
        resolve_source,
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
        resolve_source("outputs/fake_or_real_new")  # the message shows what is there


def test_local_first_then_a_repo_id(outputs, no_hub):
    assert resolve_source("outputs/fake_or_real_news").folder == outputs.relative_to(os.getcwd()) / "fake_or_real_news"
    assert resolve_source(outputs / "fake_or_real_news").folder.is_dir()
    for repo_id in ("user/model", "model"):  # repo ids, not folders
        assert resolve_source(repo_id).folder is None and str(resolve_source(repo_id)) == repo_id
    resolved = resolve_source("outputs/fake_or_real_news")
    assert resolve_source(resolved) is resolved  # a resolved source passes through every loader as it is
    assert serving.find_onnx("outputs/fake_or_real_news") is None  # a folder without a graph: no Hub either
    assert isinstance(serving.load_for_inference("outputs/fake_or_real_news"), BiLSTMForSequenceClassification)


def test_demo_model_info_is_local_first(outputs, no_hub):
    pytest.importorskip("gradio")  # the demo's page helpers come with the [demo] extra
    from tests.test_scripts import load_script

    demo = load_script("demo")
    with pytest.raises(FileNotFoundError, match="no such local folder"):
        demo.model_info("outputs/fake_or_real_new")
    assert demo.model_info("outputs/fake_or_real_news")["labels"]


@pytest.mark.parametrize("backend", ["torch", "auto", "onnx"])
def test_one_load_resolves_the_source_once_and_reads_config_once(outputs, monkeypatch, backend):
    """predict.py's load (cli.load_model): one resolution, one config.json read, whatever the backend."""
    if backend == "onnx":
        pytest.importorskip("onnxruntime")
        from modeling.hub.onnx_export import export_onnx

        model = BiLSTMForSequenceClassification.from_pretrained(outputs / "fake_or_real_news")
        export_onnx(model, outputs / "fake_or_real_news" / serving.ONNX_FILE, check=False)
    created, config_reads = [], []
    real_init, real_file = ModelSource.__init__, ModelSource.file

    def counting_init(self, *args, **kwargs):
        created.append(args)
        real_init(self, *args, **kwargs)

    def counting_file(self, filename):
        config_reads.extend([filename] if filename == CONFIG_FILE else [])
        return real_file(self, filename)

    monkeypatch.setattr(ModelSource, "__init__", counting_init)
    monkeypatch.setattr(ModelSource, "file", counting_file)
    model = load_model("outputs/fake_or_real_news", backend=backend)
    assert getattr(model, "backend", "torch") == ("onnx" if backend == "onnx" else "torch")
    assert len(created) == 1 and config_reads == [CONFIG_FILE]


def test_both_backends_share_one_predict():
    from modeling.inference import TextClassifier

    for cls in (BiLSTMForSequenceClassification, serving.OnnxBiLSTMClassifier):
        assert issubclass(cls, TextClassifier)
        assert cls.predict is TextClassifier.predict and cls.predict_proba is TextClassifier.predict_proba


# ------------------------------------------------------------------ truncated or empty weights
@pytest.mark.parametrize("size", [0, 7, "half"])
def test_truncated_weights_are_one_line_naming_the_file(tmp_path, size):
    folder = tmp_path / "run"
    tiny_model().save_pretrained(folder)
    weights = folder / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2 if size == "half" else size])
    with pytest.raises(ValueError) as info:
        BiLSTMForSequenceClassification.from_pretrained(folder)
    message = str(info.value)
    assert message.startswith(f"{weights}: not a readable safetensors file") and "\n" not in message
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        model_module.read_weights(weights)  # the onnx graph's fingerprint check reads the weights this way


def test_truncated_weights_in_predict_and_the_onnx_check_are_one_line(tmp_path, scripts_predict, capsys):
    pytest.importorskip("onnxruntime")
    from modeling.hub.onnx_export import export_onnx

    folder = tmp_path / "run"
    model = tiny_model()
    model.save_pretrained(folder)
    export_onnx(model, folder / serving.ONNX_FILE, check=False)
    weights = folder / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"^{weights}: not a readable safetensors file"):
        serving.OnnxBiLSTMClassifier.from_pretrained(folder)
    for backend in ("torch", "onnx", "auto"):
        with pytest.raises(SystemExit) as exit_info:
            scripts_predict.main(["--model_name_or_path", str(folder), "--backend", backend, "some text here"])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 1 and len(err.splitlines()) == 1, err
        assert err.startswith(f"error: {weights}: not a readable safetensors file"), err


@pytest.fixture(scope="module")
def scripts_predict():
    from tests.test_scripts import load_script

    return load_script("predict")


# ------------------------------------------------------------------ a Hub that cannot be reached
TIMED_MAIN = """
import runpy, sys, time
script = runpy.run_path(sys.argv[1])  # not run as __main__: main() is timed alone, without start-up
start = time.monotonic()
try:
    script["main"](sys.argv[2:])
finally:
    print(f"seconds {time.monotonic() - start:.2f}")
"""


def run_offline_predict(cwd, home, name):
    """scripts/predict.py in a process whose Hub is a closed loopback port, HF_HUB_OFFLINE unset."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=CLOSED_ENDPOINT, HF_HOME=str(home), PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", TIMED_MAIN, str(ROOT / "scripts" / "predict.py"),
                           "--model_name_or_path", name, "some text to classify"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", ["someuser/some-model", "outputs/no_such_run", "fake_or_real_new"])
def test_an_unreachable_hub_is_asked_once_and_fails_in_one_line(tmp_path, name):
    """No network (a refused connection), no HF_HUB_OFFLINE, nothing cached: one line, at once. The Hub
    client alone retries five times with back-off (72-90 s and 34 lines here)."""
    cwd = tmp_path / "project"
    (cwd / "data").mkdir(parents=True)  # outputs/ does not exist yet: a typo'd run folder looks like a repo id
    result = run_offline_predict(cwd, tmp_path / "hf", name)
    err = result.stderr.strip()
    assert result.returncode == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {name}: no such local folder (the current folder holds: data), and as a Hub"
                          " repo id it cannot be fetched: the Hugging Face Hub cannot be reached (")
    # huggingface_hub names the refused connection ("Connection refused"; 0.25 shortens it to urllib3's
    # NewConnectionError)
    assert ("Connection refused" in err or "NewConnectionError" in err) and err.endswith(") and the HF cache holds no copy of it")
    assert float(result.stdout.split()[-1]) < 10


def test_an_unreachable_hub_suggests_the_local_folder_a_typo_missed(tmp_path):
    cwd = tmp_path / "project"
    (cwd / "output").mkdir(parents=True)
    err = run_offline_predict(cwd, tmp_path / "hf", "outputs/no_such_run").stderr.strip()
    assert err.endswith("; did you mean the local folder output?"), err


def test_an_unreachable_hub_falls_back_to_the_hf_cache(tmp_path):
    """A cached repo loads without the network, after one refused request and one warning line."""
    folder = tmp_path / "run"
    model = tiny_model()
    model.save_pretrained(folder)
    populate_cache(tmp_path / "hf" / "hub", "alice/cached-model", folder, "c" * 40, "main")
    result = run_offline_predict(tmp_path, tmp_path / "hf", "alice/cached-model")
    assert result.returncode == 0, result.stderr
    assert "the Hugging Face Hub cannot be reached; using the copy in the HF cache" in result.stderr
    assert "Retrying" not in result.stderr
    printed = [line for line in result.stdout.splitlines() if line.startswith("{")]
    expected = model.predict("some text to classify")
    assert len(printed) == 1 and f'"label": "{expected["label"]}"' in printed[0]
    assert float(result.stdout.split()[-1]) < 10


def test_local_files_only_never_probes_the_hub(monkeypatch):
    def probe(*args, **kwargs):
        raise AssertionError("the Hub was probed")

    monkeypatch.setattr(source, "get_hf_file_metadata", probe)
    assert resolve_source("alice/x", local_files_only=True).hub_options["local_files_only"] is True
