"""What a non-editable install gets: the wheel carries every module, the templates and the remote code;
the sdist carries the model card template once."""

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARD_TEMPLATE = ROOT / "modeling" / "hub" / "templates" / "model_card.md"


def copy_source(tmp_path):
    """A copy of the project (links kept as links), so no build/ folder of an earlier build leaks in."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "outputs",
                                                                "*.whl", "*.tar.gz"), symlinks=True)
    return source


def test_the_wheel_holds_the_package_its_templates_and_the_remote_code(tmp_path):
    pytest.importorskip("setuptools")
    source = copy_source(tmp_path)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                           "--wheel-dir", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "modeling").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert expected - names == set()
    assert {"modeling/hf_interop/modeling_bilstm.py", "modeling/hub/templates/model_card.md",
            "modeling/hub/templates/space_app.py.tmpl"} <= names
    assert zipfile.ZipFile(wheel).read("modeling/hub/templates/model_card.md") == CARD_TEMPLATE.read_bytes()


def test_the_sdist_holds_the_model_card_template_once(tmp_path):
    # The repository's model_card.md links to the packaged template: an sdist carries the template and
    # no second copy of it (a build of the sdist then ships the same file).
    pytest.importorskip("setuptools")
    source = copy_source(tmp_path)
    build = f"from setuptools import build_meta; build_meta.build_sdist({str(tmp_path)!r})"
    done = subprocess.run([sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        cards = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if m.name.endswith("model_card.md")}
        assert list(cards) == ["modeling/hub/templates/model_card.md"]
        assert archive.extractfile(cards["modeling/hub/templates/model_card.md"]).read() == CARD_TEMPLATE.read_bytes()
