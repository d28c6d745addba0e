"""Sharing on the Hub, all offline: the upload folder and its card, the push (HfApi replaced at the
network boundary), the Endpoints handler loaded as the toolkit loads it, and from_pretrained by repo id
from a cache laid out as hf_hub_download lays it out."""

import fnmatch
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import torch
import yaml
from huggingface_hub import ModelCard, RepoUrl

from modeling import BiLSTMConfig, BiLSTMForSequenceClassification, train_tokenizer
from modeling.hub import upload as hub
from modeling.hub.card import DEFAULT_WIDGET_TEXTS, MODEL_INDEX_METRICS
from modeling.inference import pad_sequences
from modeling.training.plots import plot_confusion_matrix, plot_loss_curve

REPO_ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("push_to_hub", REPO_ROOT / "scripts" / "push_to_hub.py")
push_to_hub = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(push_to_hub)
# Set ENDPOINT_PYTHON to an interpreter with the Endpoints image's versions (huggingface_hub 0.30.2,
# tokenizers 0.21) to also run the handler test under it.
HANDLER_PYTHONS = [sys.executable] + ([os.environ["ENDPOINT_PYTHON"]] if os.environ.get("ENDPOINT_PYTHON") else [])

REAL = ["the senate passed the budget bill on thursday", "officials said the economy grew last quarter",
        "the court ruled on the case after a long hearing", "scientists published the study in a journal"]
FAKE = ["shocking secret cure the government hides from you", "you will not believe this miracle trick doctors hate",
        "breaking leaked proof of the secret plot exposed", "this one weird trick shocks the elite insiders"]
TEXTS, LABELS = REAL + FAKE, [0] * len(REAL) + [1] * len(FAKE)
REPO_ID = "alice/bilstm-fake-news"


def tiny_model(seed=0, steps=5):
    """A small model trained a few steps on the fixture texts, so predictions differ by text."""
    tokenizer = train_tokenizer(TEXTS, min_frequency=1, max_length=32)
    config = BiLSTMConfig(vocab_size=tokenizer.get_vocab_size(), embedding_dim=8, hidden_size=8,
                          dropout=0.0, max_length=32)
    torch.manual_seed(seed)
    model = BiLSTMForSequenceClassification(config)
    model.tokenizer = tokenizer
    input_ids, mask = pad_sequences([e.ids for e in tokenizer.encode_batch(TEXTS)])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = model(input_ids, mask, labels=torch.tensor(LABELS)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def eval_results_for(model):
    """An eval_results.json as evaluate_model.py writes it (ClassificationReport dict + loss, threshold, file)."""
    names = model.config.label_names
    preds = [names.index(p["label"]) for p in model.predict(TEXTS)]
    cm = [[sum(1 for t, p in zip(LABELS, preds) if (t, p) == (i, j)) for j in range(2)] for i in range(2)]
    per_class = {}
    for i, name in enumerate(names):
        tp, predicted, support = cm[i][i], cm[0][i] + cm[1][i], sum(cm[i])
        precision, recall = tp / predicted if predicted else 0.0, tp / support
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    results = {"accuracy": (cm[0][0] + cm[1][1]) / len(LABELS)}
    for metric in ("precision", "recall", "f1"):
        values = [per_class[n][metric] for n in names]
        results[f"macro_{metric}"] = sum(values) / 2
        results[f"weighted_{metric}"] = sum(v * per_class[n]["support"] for v, n in zip(values, names)) / len(LABELS)
    results.update(per_class=per_class, confusion_matrix=cm, label_names=names, num_examples=len(LABELS),
                   loss=0.4321, threshold=0.5, test_file="/home/alice/data/test.csv")
    return results


def write_run(model, out):
    """A train.py + evaluate_model.py output folder."""
    model.save_pretrained(out)
    results = eval_results_for(model)
    (out / "eval_results.json").write_text(json.dumps(results, indent=2))
    (out / "all_results.json").write_text(json.dumps({
        "eval_loss": 0.51, "eval_accuracy": 0.75, "test_loss": 0.4321, "test_accuracy": results["accuracy"],
        "test_macro_f1": results["macro_f1"], "test_weighted_f1": results["weighted_f1"], "train_runtime": 3.2,
        "train_samples_per_second": 101.5}))
    (out / "metrics.json").write_text(json.dumps(
        {"train_loss_list": [0.7, 0.6, 0.5], "valid_loss_list": [0.66, 0.55, 0.58], "global_steps_list": [2, 4, 6]}))
    (out / "training_args.json").write_text(json.dumps(
        {"train_file": "/home/alice/data/fake_or_real_news/train.csv", "learning_rate": 2e-5, "num_train_epochs": 3,
         "seed": 42, "overwrite_output_dir": True, "output_dir": "/home/alice/runs/x", "push_to_hub": True,
         "hub_model_id": REPO_ID, "hub_token": "hf_secret"}))
    # What train.py learnt about the data (no widget texts here: the news examples stand in).
    (out / "card_data.json").write_text(json.dumps({"dataset_name": "fake_or_real_news", "language": "en"}))
    plot_loss_curve([2, 4, 6], [0.7, 0.6, 0.5], [2, 4, 6], [0.66, 0.55, 0.58], out / "loss_curve.png")
    plot_confusion_matrix(results["confusion_matrix"], model.config.label_names, out / "confusion_matrix.png")
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_run(tiny_model(), tmp_path_factory.mktemp("run") / "output")


@pytest.fixture(scope="module")
def dry_run(run_dir, tmp_path_factory):
    return hub.build_upload_folder(run_dir, tmp_path_factory.mktemp("dry") / "upload", REPO_ID)


def read_tree(folder):
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def front_matter(readme):
    text = Path(readme).read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


# ----------------------------------------------------------------------------- upload folder
def test_dry_run_folder_holds_every_file(dry_run, run_dir):
    files = set(read_tree(dry_run))
    expected = {"config.json", "model.safetensors", "tokenizer.json", "README.md", "handler.py", "requirements.txt",
                "eval_results.json", "all_results.json", "metrics.json", "training_args.json",
                "loss_curve.png", "confusion_matrix.png", "tokenizer_config.json", "configuration_bilstm.py",
                "modeling_bilstm.py", "pipeline_bilstm.py"}
    expected |= {f"bilstm_inference/{m}" for m in ("__init__.py", *hub.VENDORED_MODULES)}
    assert files == expected
    for name in ("config.json", "model.safetensors", "tokenizer.json", "eval_results.json", "loss_curve.png"):
        assert (dry_run / name).read_bytes() == (run_dir / name).read_bytes()


def test_card_metadata_and_model_index_match_eval_results(dry_run, run_dir):
    meta = front_matter(dry_run / "README.md")
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["library_name"] == "pytorch" and meta["license"] == "unknown" and meta["language"] == "en"
    assert {"text-classification", "fake-news", "bilstm"} <= set(meta["tags"])
    eval_results = json.loads((run_dir / "eval_results.json").read_text())
    [entry] = meta["model-index"][0]["results"]
    assert entry["task"]["type"] == "text-classification"
    assert entry["dataset"] == {"name": "fake_or_real_news", "type": "csv", "split": "test"}
    by_type = {(m["type"], m.get("config")): m["value"] for m in entry["metrics"]}
    assert by_type == {(t, c): eval_results[key] for key, t, c, _ in MODEL_INDEX_METRICS}
    # The Hub's own parser reads the same results back.
    card = ModelCard.load(dry_run / "README.md")
    assert {r.metric_value for r in card.data.eval_results} == {eval_results[k] for k, *_ in MODEL_INDEX_METRICS}


def test_widget_outputs_are_the_models_predictions(dry_run, run_dir):
    widget = front_matter(dry_run / "README.md")["widget"]
    assert [w["text"] for w in widget] == list(DEFAULT_WIDGET_TEXTS)
    predictions = BiLSTMForSequenceClassification.from_pretrained(run_dir).predict(list(DEFAULT_WIDGET_TEXTS))
    for example, prediction in zip(widget, predictions):
        ranked = sorted(prediction["scores"].items(), key=lambda kv: kv[1], reverse=True)
        assert [o["label"] for o in example["output"]] == [label for label, _ in ranked]
        assert example["output"][0]["label"] == prediction["label"]
        assert [o["score"] for o in example["output"]] == [round(score, 4) for _, score in ranked]
    assert len({w["output"][0]["score"] for w in widget}) > 1  # the model tells texts apart


def test_card_body_sections(dry_run):
    body = (dry_run / "README.md").read_text(encoding="utf-8").split("---\n", 2)[2]
    for needle in ("## Intended use and limits", "first 32 tokens", "## Training data and procedure",
                   "### Hyper-parameters", "| learning_rate | 2e-05 |", "| num_train_epochs | 3 |",
                   "Trained on `fake_or_real_news`", "English news articles",
                   "0.5500 at step 4", "| true \\ predicted | REAL | FAKE |", "![Confusion matrix](confusion_matrix.png)",
                   "![Training and validation loss](loss_curve.png)", f'from_pretrained("{REPO_ID}")',
                   "### Inference Endpoints", "McIntire", "| Loss | 0.4321 |"):
        assert needle in body, needle
    assert "/home/alice" not in body  # local paths stay out of a public card
    assert "hf_secret" not in body and "| output_dir |" not in body and "| push_to_hub |" not in body
    assert "| overwrite_output_dir |" not in body and "| train_file |" not in body  # hyper-parameters only
    assert "\n\n\n" not in body


@pytest.mark.parametrize("ran, shown", [("fp32", "| train_precision | fp32 |"),
                                         ("bf16", "| train_precision | bf16 (from accelerate launch; "
                                                  "--train_precision fp32) |")])
def test_card_shows_the_precision_that_ran(run_dir, tmp_path, ran, shown):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    for name, key, value in (("training_args.json", "train_precision", "fp32"),
                             ("all_results.json", "train_precision", ran)):
        data = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps({**data, key: value}))
    card = (hub.build_upload_folder(run, tmp_path / "up") / "README.md").read_text(encoding="utf-8")
    assert shown in card
    assert card.count("| train_precision |") == 2  # the settings table and the run's results


def test_card_adapts_to_a_bare_run_folder(run_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in hub.REQUIRED_FILES:
        (bare / name).write_bytes((run_dir / name).read_bytes())
    folder = hub.build_upload_folder(bare, tmp_path / "up")
    assert {p.name for p in folder.iterdir()} == {*hub.REQUIRED_FILES, *hub.TRANSFORMERS_FILES, "README.md",
                                                  "handler.py", "requirements.txt", "bilstm_inference"}
    meta = front_matter(folder / "README.md")
    assert "model-index" not in meta and meta["widget"]
    assert "No evaluation results" in (folder / "README.md").read_text()


def test_requirements_and_file_names_suit_the_endpoints_toolkit(dry_run):
    requirements = [line for line in (dry_run / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    assert requirements == []  # everything handler.py imports is in the image or in the repo
    # The toolkit downloads a repo with safetensors weights ignoring these patterns
    # (huggingface_inference_toolkit.utils.framework2weight, all but "*safetensors").
    ignored = ["pytorch*", "tf*", "flax*", "rust*", "*onnx*", "*mlmodel", "*tflite", "*tar.gz", "*openvino*",
               "*ckpt", "*neuron"]
    assert not [f for f in read_tree(dry_run) if any(fnmatch.fnmatch(f, p) for p in ignored)]


def test_the_model_card_template_has_one_copy():
    # The one file is the template in the package, which card.py renders and the wheel and sdist carry
    # (tests/test_packaging.py); the repository's model_card.md is a relative link to it, so the two
    # cannot drift. A checkout without symlink support makes the link a text file holding the path,
    # which fails here.
    from modeling.hub.card import model_card_template_path

    link = REPO_ROOT / "model_card.md"
    assert link.is_symlink() and os.readlink(link) == "modeling/hub/templates/model_card.md"
    assert link.resolve() == model_card_template_path().resolve()


def test_build_refuses_a_folder_with_other_files_and_replaces_a_previous_build(run_dir, tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt"):
        hub.build_upload_folder(run_dir, target)
    assert (target / "notes.txt").read_text() == "keep me"
    first = hub.build_upload_folder(run_dir, tmp_path / "up")
    (first / "README.md").write_text("stale")
    again = hub.build_upload_folder(run_dir, tmp_path / "up")
    assert (again / "README.md").read_text() != "stale"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left behind


def test_missing_model_file_is_one_clear_error(run_dir, tmp_path):
    (tmp_path / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"missing model\.safetensors, tokenizer\.json"):
        hub.build_upload_folder(tmp_path, tmp_path / "up")


# A relative import of a wing ("from .data import x") is the core contract's to refuse (test_architecture.py).
@pytest.mark.parametrize("source, bad", [("import datasets\n", "datasets"),
                                         ("from modeling.training.plots import y\n", "modeling")])
def test_vendored_code_must_stay_importable_in_the_endpoints_image(source, bad):
    with pytest.raises(RuntimeError, match=bad):
        hub._check_vendorable("model.py", source)


# ---------------------------------------------------------------------------------- push
@pytest.fixture
def fake_hub(monkeypatch):
    """Replace HfApi's network calls; record what the push sends."""
    calls = []

    def whoami(self, *args, **kwargs):
        calls.append(("whoami", self.token))
        return {"name": "alice"}

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def create_branch(self, repo_id, **kwargs):
        calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(self, **kwargs):
        calls.append(("upload_folder", kwargs, read_tree(kwargs["folder_path"])))
        return SimpleNamespace(commit_url=f"https://huggingface.co/{kwargs['repo_id']}/commit/abc123",
                               pr_url="https://huggingface.co/pr/1" if kwargs.get("create_pr") else None)

    for name, fn in dict(whoami=whoami, create_repo=create_repo, create_branch=create_branch,
                         upload_folder=upload_folder).items():
        monkeypatch.setattr(huggingface_hub.HfApi, name, fn)
    return calls


def test_push_uploads_exactly_the_dry_run_folder_in_one_commit(run_dir, dry_run, fake_hub):
    url = hub.push_model_dir(run_dir, REPO_ID, private=True, token="hf_test", commit_message="first")
    assert url == f"https://huggingface.co/{REPO_ID}/commit/abc123"
    assert [c[0] for c in fake_hub] == ["whoami", "create_repo", "upload_folder"]
    assert fake_hub[1] == ("create_repo", REPO_ID, {"private": True, "exist_ok": True})
    _, kwargs, tree = fake_hub[2]
    assert kwargs["repo_id"] == REPO_ID and kwargs["commit_message"] == "first"
    assert kwargs["revision"] is None and kwargs["create_pr"] is False
    assert tree == read_tree(dry_run)


def test_push_to_a_branch_and_as_pull_request(run_dir, fake_hub):
    hub.push_model_dir(run_dir, REPO_ID, revision="experiment", token="hf_test")
    assert fake_hub[2] == ("create_branch", REPO_ID, {"branch": "experiment", "exist_ok": True})
    assert fake_hub[3][1]["revision"] == "experiment"
    fake_hub.clear()
    assert hub.push_model_dir(run_dir, REPO_ID, create_pr=True, token="hf_test") == "https://huggingface.co/pr/1"
    assert [c[0] for c in fake_hub] == ["whoami", "create_repo", "upload_folder"]


def test_repo_id_without_namespace_gets_the_users(run_dir, fake_hub):
    hub.push_model_dir(run_dir, "bilstm-fake-news", token="hf_test")
    assert fake_hub[1][1] == "alice/bilstm-fake-news"
    assert 'from_pretrained("alice/bilstm-fake-news")' in fake_hub[2][2]["README.md"].decode()


def test_push_errors_come_before_any_upload(run_dir, tmp_path, fake_hub, monkeypatch):
    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(hub.HubError, match="not logged in.*hf auth login"):
        hub.push_model_dir(run_dir, REPO_ID)
    with pytest.raises(hub.HubError, match="invalid --hub_model_id"):
        hub.push_model_dir(run_dir, "alice/bad--name", token="hf_test")
    with pytest.raises(FileNotFoundError, match="missing"):
        hub.push_model_dir(tmp_path, REPO_ID, token="hf_test")
    assert fake_hub == []


def test_not_logged_in_names_the_callers_token_flag(monkeypatch, tmp_path):
    """push_to_hub.py's flag is --token, train.py's --hub_token: each error names its own."""
    from modeling.training.recipe import check_hub

    monkeypatch.setattr(hub, "get_token", lambda: None)
    with pytest.raises(hub.HubError, match=r"or pass --token$"):
        hub.check_can_push(REPO_ID)
    with pytest.raises(hub.HubError, match=r"or pass --hub_token$"):
        check_hub(SimpleNamespace(hub_model_id=REPO_ID, output_dir=str(tmp_path), hub_token=None))


def test_network_failure_is_one_line(run_dir, fake_hub, monkeypatch):
    class Unauthorized(Exception):
        response = SimpleNamespace(status_code=401)

    def whoami(self, *args, **kwargs):
        raise Unauthorized("401 Client Error: Unauthorized for url\nmore details")

    monkeypatch.setattr(huggingface_hub.HfApi, "whoami", whoami)
    with pytest.raises(hub.HubError) as err:
        hub.push_model_dir(run_dir, REPO_ID, token="hf_bad")
    assert "\n" not in str(err.value) and "hf auth login" in str(err.value)


def test_script_dry_run_and_push(run_dir, tmp_path, fake_hub, capsys):
    out = tmp_path / "dry"
    assert push_to_hub.main(["--model_dir", str(run_dir), "--hub_model_id", REPO_ID, "--dry_run", str(out)]) == 0
    assert fake_hub == []
    assert push_to_hub.main(["--model_dir", str(run_dir), "--hub_model_id", REPO_ID, "--token", "hf_test",
                             "--private", "--revision", "v2", "--commit_message", "hello"]) == 0
    assert capsys.readouterr().out.strip() == f"https://huggingface.co/{REPO_ID}/commit/abc123"
    upload = fake_hub[-1]
    assert upload[1]["revision"] == "v2" and upload[1]["commit_message"] == "hello"
    assert upload[2] == read_tree(out)


@pytest.mark.parametrize("args, message", [
    (["--hub_model_id", "a/b/c"], "invalid --hub_model_id"),
    (["--hub_model_id", REPO_ID, "--model_dir", "/nonexistent/run"], "no such folder"),
])
def test_script_errors_are_one_line(run_dir, args, message, fake_hub, capsys):
    argv = ["--model_dir", str(run_dir), *args, "--token", "hf_test"]
    with pytest.raises(SystemExit) as exit_info:
        push_to_hub.main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err


# ------------------------------------------------------------------------- Endpoint handler
HANDLER_DRIVER = textwrap.dedent("""
    import importlib.abc, importlib.util, json, sys

    # The project, the training-only libraries and the ONNX exporter are not in the Endpoints image;
    # further names (e.g. onnxruntime) may follow the requests on the command line.
    blocked = {"modeling", "datasets", "evaluate", "accelerate", "pandas", "matplotlib", "onnx"} | set(sys.argv[3:])

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, Absent())
    try:
        import modeling
        sys.exit("modeling should not be importable here")
    except ModuleNotFoundError:
        pass
    model_dir, requests = sys.argv[1], json.loads(sys.argv[2])
    # huggingface_inference_toolkit.utils.check_and_register_custom_pipeline_from_directory:
    spec = importlib.util.spec_from_file_location("handler.EndpointHandler", model_dir + "/handler.py")
    sys.path.insert(0, model_dir)
    module = importlib.util.module_from_spec(spec)
    sys.modules["handler.EndpointHandler"] = module
    spec.loader.exec_module(module)
    endpoint = module.EndpointHandler(model_dir)
    import handler  # the plain import finds the same file through sys.path
    assert handler.EndpointHandler(model_dir)(requests[0]) == endpoint(requests[0])
    answers = []
    for request in requests:
        try:
            answers.append({"ok": endpoint(request)})
        except ValueError as err:
            answers.append({"error": str(err)})
    print(json.dumps({"backend": endpoint.backend, "answers": answers}))
""")


def handler_process(python, folder, requests, tmp_path, *blocked, environment=None):
    """Load the handler of ``folder`` as the toolkit loads it, in a fresh ``python`` without the project
    (nor the ``blocked`` packages; ``environment`` adds variables), and send it ``requests``. Returns the
    finished process; its last stdout line is ``{"backend": ..., "answers": [{"ok": ...} or {"error": ...}]}``."""
    driver = tmp_path / "driver.py"
    driver.write_text(HANDLER_DRIVER)
    # Not the caller's PYTHONPATH (the project) nor its BILSTM_BACKEND (the handler's backend choice).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BILSTM_BACKEND")} | (environment or {})
    proc = subprocess.run([python, "-I", "-B", str(driver), str(folder), json.dumps(requests), *blocked],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def run_handler(python, folder, requests, tmp_path, *blocked):
    """The handler's answers (``{"ok": ...}`` or ``{"error": ...}``) to ``requests`` (see :func:`handler_process`)."""
    return json.loads(handler_process(python, folder, requests, tmp_path, *blocked).stdout.strip().splitlines()[-1])[
        "answers"]


@pytest.mark.parametrize("python", HANDLER_PYTHONS)
def test_handler_runs_as_the_endpoints_toolkit_loads_it(python, dry_run, run_dir, tmp_path):
    requests = [
        {"inputs": TEXTS},
        {"inputs": TEXTS[0], "parameters": {"top_k": 1}},
        {"inputs": TEXTS[:2], "parameters": None},
        {"text": "no inputs key"},
        {"inputs": []},
        {"inputs": 42},
        {"inputs": ["fine", None]},
        {"inputs": ["x"] * 65},
        {"inputs": "x" * 100_001},
        {"inputs": "x", "parameters": {"top_k": "2"}},
        {"inputs": "x", "parameters": {"temperature": 2}},
    ]
    answers = run_handler(python, dry_run, requests, tmp_path)

    expected = BiLSTMForSequenceClassification.from_pretrained(run_dir).predict(TEXTS)
    batch = answers[0]["ok"]
    assert len(batch) == len(TEXTS)
    for result, prediction in zip(batch, expected):
        assert [r["label"] for r in result][0] == prediction["label"]
        assert {r["label"] for r in result} == {"REAL", "FAKE"}
        assert result[0]["score"] >= result[1]["score"]
        assert result[0]["score"] == pytest.approx(prediction["score"], abs=1e-6)
    assert len({result[0]["label"] for result in batch}) == 2  # both labels occur: the check has teeth
    assert answers[1]["ok"] == [[{"label": expected[0]["label"], "score": pytest.approx(expected[0]["score"], abs=1e-6)}]]
    assert len(answers[2]["ok"]) == 2
    errors = [a.get("error") for a in answers[3:]]
    assert all(errors), answers[3:]
    for error, needle in zip(errors, ['no "inputs"', "empty list", "string or a list", '"inputs"[1] must be a string',
                                      "65 texts", "100,001 characters", '"top_k" must be a positive integer',
                                      'unknown "parameters": temperature']):
        assert needle in error and "\n" not in error


@pytest.mark.parametrize("rule", [5, 1])
def test_handler_applies_the_short_text_rule_of_config_json(rule, dry_run, tmp_path):
    """The rule the model was trained with (min_text_chars; 5 when config.json predates the field)
    decides which texts the handler refuses, as predict leaves them unlabelled."""
    folder = tmp_path / "upload"
    shutil.copytree(dry_run, folder)
    config = json.loads((folder / "config.json").read_text())
    if rule == 5:
        del config["min_text_chars"]  # as a model saved before the field existed
    else:
        config["min_text_chars"] = rule
    (folder / "config.json").write_text(json.dumps(config))
    requests = [{"inputs": "abcde"}, {"inputs": [TEXTS[0], "abcd"]}, {"inputs": ""}, {"inputs": ["abc", "   "]}]
    answers = run_handler(sys.executable, folder, requests, tmp_path)
    model = BiLSTMForSequenceClassification.from_pretrained(folder)
    assert model.config.min_text_chars == rule
    for request, answer in zip(requests, answers):
        texts = [request["inputs"]] if isinstance(request["inputs"], str) else request["inputs"]
        predictions = model.predict(texts)
        refused = [i for i, p in enumerate(predictions) if p["label"] is None]
        if refused:  # the first text predict leaves unlabelled is the one the handler names
            reason = "empty text" if rule == 1 else "text shorter than 5 characters"
            assert answer == {"error": f'"inputs"[{refused[0]}]: {reason}; this model was trained without such texts'
                                       f" (min_text_chars {rule} in its config.json)"}
        else:
            assert [r[0]["label"] for r in answer["ok"]] == [p["label"] for p in predictions]
    assert ["error" in a for a in answers] == ([False, True, True, True] if rule == 5 else [False, False, True, True])


# ----------------------------------------------------------------- from_pretrained(repo_id)
def populate_cache(cache_dir, repo_id, folder, commit, ref, names=None):
    """Lay out ``folder``'s model files (or ``names``) as hf_hub_download does: blobs, snapshot
    symlinks, a ref."""
    repo = Path(cache_dir) / f"models--{repo_id.replace('/', '--')}"
    for name in names or hub.REQUIRED_FILES:
        data = (Path(folder) / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / ref).write_text(commit)


@pytest.fixture(scope="module")
def hub_cache(run_dir, tmp_path_factory):
    """A cache holding REPO_ID at main (the run) and at branch v1 (another model)."""
    other = write_run(tiny_model(seed=1, steps=2), tmp_path_factory.mktemp("other") / "output")
    cache = tmp_path_factory.mktemp("hf_cache")
    populate_cache(cache, REPO_ID, run_dir, "a" * 40, "main")
    populate_cache(cache, REPO_ID, other, "b" * 40, "v1")
    return cache, other


def _scores(predictions):
    return [round(p["scores"]["FAKE"], 6) for p in predictions]


def test_from_pretrained_repo_id_offline_matches_the_local_folder(hub_cache, run_dir, tmp_path):
    cache, other = hub_cache
    code = textwrap.dedent(f"""
        import json
        from modeling import BiLSTMForSequenceClassification as M
        texts = {TEXTS!r}
        out = {{rev: [p["scores"]["FAKE"] for p in M.from_pretrained({REPO_ID!r}, cache_dir={str(cache)!r},
                                                                   revision=rev).predict(texts)]
               for rev in (None, "v1", {"b" * 40!r})}}
        print(json.dumps(out))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    local = _scores(BiLSTMForSequenceClassification.from_pretrained(run_dir).predict(TEXTS))
    local_other = _scores(BiLSTMForSequenceClassification.from_pretrained(other).predict(TEXTS))
    assert [round(s, 6) for s in out["null"]] == local
    assert [round(s, 6) for s in out["v1"]] == [round(s, 6) for s in out["b" * 40]] == local_other
    assert local != local_other


def test_from_pretrained_local_files_only(hub_cache, run_dir):
    cache, _ = hub_cache
    model = BiLSTMForSequenceClassification.from_pretrained(REPO_ID, cache_dir=cache, local_files_only=True)
    assert model.tokenizer is not None
    assert _scores(model.predict(TEXTS)) == _scores(BiLSTMForSequenceClassification.from_pretrained(run_dir).predict(TEXTS))
    with pytest.raises(Exception, match="(?i)cache|offline|local"):
        BiLSTMForSequenceClassification.from_pretrained("alice/not-cached", cache_dir=cache, local_files_only=True)
