"""The Gradio demo: launched on localhost and called with gradio_client, it answers model.predict's
probabilities and the Endpoint handler's errors; the Space folder runs the same app from a repo id
offline; a headless Chromium screenshot shows the page.

Needs the ``[demo]`` extra (gradio, gradio_client; skipped without it) and ``../shared/data``.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from modeling import BiLSTMForSequenceClassification
from modeling.hub import upload as hub  # noqa: E402
from modeling.hub import demo as demo_module  # noqa: E402
from modeling.hub.card import DEFAULT_WIDGET_TEXTS, handler_limits  # noqa: E402
from modeling.hub.space import build_space_folder  # noqa: E402
from tests.interop_models import binary_model, eval_texts  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_ID, SPACE_ID = "alice/bilstm-fake-news", "alice/bilstm-fake-news-demo"


@pytest.fixture(scope="module")
def upload(tmp_path_factory):
    run = tmp_path_factory.mktemp("demo") / "run"
    binary_model().save_pretrained(run)
    (run / "eval_results.json").write_text(json.dumps({"accuracy": 0.9321, "num_examples": 634}))
    return hub.build_upload_folder(run, tmp_path_factory.mktemp("demo") / "upload", MODEL_ID)


@pytest.fixture(scope="module")
def served(upload):
    """The app of the upload folder, launched on localhost; yields (app, client, model)."""
    model = BiLSTMForSequenceClassification.from_pretrained(upload)
    app = demo_module.build_demo(model, demo_module.read_model_info(upload, name=MODEL_ID))
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield app, gradio_client.Client(app.local_url, verbose=False), model
    finally:
        app.close()


def confidences(label_value):
    return {c["label"]: c["confidence"] for c in label_value["confidences"]}


def test_limits_are_the_endpoint_handlers():
    assert (demo_module.MAX_BATCH_SIZE, demo_module.MAX_TEXT_CHARS) == handler_limits()


def test_page_shows_name_labels_accuracy_and_the_cards_examples(upload):
    info = demo_module.read_model_info(upload, name=MODEL_ID)
    assert info["labels"] == ["REAL", "FAKE"] and info["test_accuracy"] == 0.9321
    assert info["examples"] == list(DEFAULT_WIDGET_TEXTS)  # the card's widget texts
    header = demo_module.header_markdown(info)
    for needle in (MODEL_ID, "`REAL`, `FAKE`", "0.9321", "634 held-out"):
        assert needle in header


def test_client_gets_model_predict_probabilities(served):
    app, client, model = served
    texts = eval_texts("binary", 50)
    expected = model.predict(texts)
    worst = 0.0
    for text, prediction in zip(texts[:5], expected):
        answer = client.predict(text, api_name="/classify")
        assert answer["label"] == prediction["label"]
        assert confidences(answer).keys() == prediction["scores"].keys()
        worst = max(worst, *(abs(confidences(answer)[k] - v) for k, v in prediction["scores"].items()))
    batch = client.predict(texts, api_name="/classify_batch")
    assert len(batch) == len(texts)
    for answer, prediction in zip(batch, expected):
        worst = max(worst, *(abs(answer[k] - v) for k, v in prediction["scores"].items()))
    assert worst <= 1e-6
    assert len({p["label"] for p in expected}) == 2


@pytest.mark.parametrize("api_name, payload, message", [
    ("/classify", "", "the text is empty"),
    ("/classify", "   ", "the text is empty"),
    ("/classify", "hi!", "the text is too short: text shorter than 5 characters"),
    ("/classify_batch", ["a long enough text", "hey"], "text 1 is too short"),
    ("/classify", "x" * 100_001, "100,001 characters; the limit is 100,000"),
    ("/classify_batch", ["a text"] * 65, "65 texts were sent; the limit is 64"),
    ("/classify_batch", [], "empty: send at least one text"),
])
def test_bad_requests_get_the_handlers_message(served, api_name, payload, message, capfd):
    _, client, _ = served
    with pytest.raises(Exception, match=message):
        client.predict(payload, api_name=api_name)
    assert client.predict("still answering", api_name="/classify")["label"] in ("REAL", "FAKE")  # no crash
    assert "Traceback" not in capfd.readouterr().err  # the page shows the message; the console stays quiet


def test_demo_script_honours_gradios_server_variables(monkeypatch):
    """GRADIO_SERVER_NAME/GRADIO_SERVER_PORT (how containers and Spaces set them) are the defaults."""
    script = _demo_script()
    args = script.parse_args(["--model_name_or_path", "m"])
    assert (args.server_name, args.server_port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8080")
    args = script.parse_args(["--model_name_or_path", "m"])
    assert (args.server_name, args.server_port) == ("0.0.0.0", 8080)
    args = script.parse_args(["--model_name_or_path", "m", "--server_port", "9000"])
    assert args.server_port == 9000  # the flag wins


def test_space_app_loads_the_model_repo_by_id_offline(upload, tmp_path):
    """The Space folder, run as Spaces run app.py, with the model repo in an offline HF cache."""
    from tests.test_transformers_interop import populate_cache

    space = build_space_folder(tmp_path / "space", SPACE_ID, MODEL_ID)
    cache = tmp_path / "hub"
    populate_cache(cache, MODEL_ID, upload)
    texts = eval_texts("binary", 3)
    driver = textwrap.dedent(f"""
        import json, runpy, sys
        sys.path.insert(0, {str(space)!r})
        app = runpy.run_path({str(space / "app.py")!r}, run_name="space")["demo"]
        app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        from gradio_client import Client
        client = Client(app.local_url, verbose=False)
        print("ANSWER", json.dumps(client.predict({texts!r}, api_name="/classify_batch")))
        app.close()
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(cache)}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-I", "-c", driver], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("ANSWER "))[7:])
    expected = BiLSTMForSequenceClassification.from_pretrained(upload).predict(texts)
    for answer, prediction in zip(answers, expected):
        assert answer == pytest.approx(prediction["scores"], abs=1e-6)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get install -y chromium)")
def test_headless_chromium_screenshot(served, tmp_path):
    import importlib.util

    from matplotlib import image

    spec = importlib.util.spec_from_file_location("screenshot_demo", REPO_ROOT / "scripts" / "screenshot_demo.py")
    screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot)
    app, _, _ = served
    png = screenshot.take_screenshot(app.local_url, tmp_path / "demo.png", chromium=CHROMIUM, height=1000)
    pixels = image.imread(png)
    assert pixels.shape[:2] == (1000, 1280)
    ink = (pixels[..., :3] < 0.9).any(-1).mean()  # share of pixels that are not (near) white
    assert ink > 0.02, ink  # a rendered page, not a blank one


def _demo_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_script", REPO_ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_script_builds_the_app_from_a_folder_or_a_cached_repo_id(upload, tmp_path, monkeypatch):
    from tests.test_transformers_interop import populate_cache

    script = _demo_script()
    info = script.model_info(upload)
    assert info["name"] == "upload" and info["test_accuracy"] == 0.9321
    cache = tmp_path / "hub"
    populate_cache(cache, MODEL_ID, upload)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    info = script.model_info(MODEL_ID)
    assert info["name"] == MODEL_ID and info["labels"] == ["REAL", "FAKE"] and info["test_accuracy"] == 0.9321
    app = script.build(script.parse_args(["--model_name_or_path", str(upload)]))
    assert isinstance(app, gr.Blocks)


def test_demo_script_bad_folder_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _demo_script().main(["--model_name_or_path", str(tmp_path)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no config.json" in err and "\n" not in err


def test_screenshot_without_chromium_says_so_before_starting_anything(tmp_path, monkeypatch, capsys):
    """No chromium: one error line, and no model loaded nor Gradio server started first."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("screenshot_demo", REPO_ROOT / "scripts" / "screenshot_demo.py")
    screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(screenshot)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    launched = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, *a, **k: launched.append(self))
    monkeypatch.setattr(BiLSTMForSequenceClassification, "from_pretrained",
                        classmethod(lambda cls, *a, **k: launched.append("model")))
    with pytest.raises(SystemExit) as exit_info:
        screenshot.main(["--model_name_or_path", str(tmp_path), "--output_file", str(tmp_path / "x.png")])
    assert exit_info.value.code == 1 and launched == []
    assert capsys.readouterr().err.strip() == "error: no chromium found (Debian: apt-get install -y chromium)"
