"""What a non-editable install gets: the wheel carries every module, the templates and the remote code."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_package_its_templates_and_the_remote_code(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "source"  # a copy, so no build/ folder of an earlier build leaks into the wheel
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "outputs",
                                                                "*.whl"), symlinks=True)
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
