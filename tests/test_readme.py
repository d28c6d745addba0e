"""Every Python snippet of README.md runs verbatim (each in a fresh interpreter, in a folder holding
the demo data). The Hub snippet loads its repo id from an HF-cache-shaped folder, offline."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub.test_upload import populate_cache, tiny_model, write_run

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S | re.M)
HUB_REPO = "your-name/bilstm-fake-news"  # the repo id the README's Hub snippet loads


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with data/demo.csv and an offline HF cache holding HUB_REPO."""
    root = tmp_path_factory.mktemp("readme")
    (root / "data").mkdir()
    shutil.copyfile(ROOT / "data" / "demo.csv", root / "data" / "demo.csv")
    run = write_run(tiny_model(), tmp_path_factory.mktemp("hub_run") / "run")
    files = sorted(p.name for p in run.iterdir() if p.is_file())  # what a push uploads, transformers' files too
    populate_cache(root / "hf" / "hub", HUB_REPO, run, "c" * 40, "main", names=files)
    return root


def run_snippet(code, workdir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(workdir / "hf"), "OMP_NUM_THREADS": "1",
           "HF_DATASETS_CACHE": str(workdir / "hf" / "datasets"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_readme_has_the_snippets_this_file_checks():
    assert len(BLOCKS) == 3
    assert "train(" in BLOCKS[0] and HUB_REPO in BLOCKS[1] and "pipeline(" in BLOCKS[2] and HUB_REPO in BLOCKS[2]
    for block in BLOCKS:
        ast.parse(block)  # valid Python as written


def test_use_the_library_snippet_trains_saves_loads_and_predicts(workdir):
    proc = run_snippet(BLOCKS[0], workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    accuracy, predictions = proc.stdout.strip().splitlines()[-2:]
    assert 0.0 <= float(accuracy) <= 1.0
    predictions = ast.literal_eval(predictions)
    assert predictions[0]["label"] in ("REAL", "FAKE") and predictions[1]["label"] is None
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (workdir / "outputs/library").iterdir()}
    again = run_snippet(BLOCKS[0], workdir)  # re-runnable as written
    assert again.returncode == 0, again.stderr[-3000:]


def test_hub_snippet_loads_the_repo_id_offline(workdir):
    code = BLOCKS[1] + "\nprint(repr(model.predict(['Some news article ...'])))\n"
    proc = run_snippet(code, workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [prediction] = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert prediction["label"] in ("REAL", "FAKE") and sum(prediction["scores"].values()) == pytest.approx(1.0)


def test_transformers_snippet_runs_offline(workdir):
    pytest.importorskip("transformers")
    code = BLOCKS[2] + "\nprint(repr(classifier('Some news article ...', top_k=None)))\n"
    proc = run_snippet(code, workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert {s["label"] for s in scores} == {"REAL", "FAKE"} and sum(s["score"] for s in scores) == pytest.approx(1.0)
    # transformers 5.x's AutoTokenizer reads config.json first: with the README's trust_remote_code=True
    # it neither asks "Do you wish to run the custom code?" nor warns about the model type.
    assert "Do you wish to run the custom code" not in proc.stderr and "to instantiate a model of type" not in proc.stderr


def test_every_accelerate_launch_in_the_readme_is_quiet():
    """`accelerate launch -q`: a bad input is the script's one error line, without the launcher's
    traceback (tests/test_scripts.py runs it)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"accelerate launch [^\n`]+", text)
    assert len(commands) >= 3
    for command in commands:
        assert command.startswith("accelerate launch -q "), command
