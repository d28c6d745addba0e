"""The layout's rules (docs/ARCHITECTURE.md): import-linter's contracts hold and would catch a wrong
import; no private name crosses modules; functions stay short; every ``.py`` file is Python."""

import ast
import compileall
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_DIRS = ("modeling", "scripts", "bench")
MAX_FUNCTION_LINES = 80

pytest.importorskip("importlinter", reason="import-linter is in the [dev] extra")


def lint_imports(root):
    """Run ``lint-imports`` on the package under ``root`` (its setup.cfg); returns (exit code, output)."""
    command = [str(Path(sys.executable).parent / "lint-imports"), "--config", str(root / "setup.cfg"), "--no-cache"]
    done = subprocess.run(command, cwd=root, env={"PYTHONPATH": str(root)}, capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_the_import_contracts_are_kept():
    code, output = lint_imports(ROOT)
    assert code == 0, output
    assert "2 kept, 0 broken" in output


@pytest.mark.parametrize("module, line, contract", [
    ("model.py", "from .data import pipeline", "The core imports no wing"),
    ("serving.py", "import datasets", "The core imports no wing"),
    ("data/files.py", "from ..training import state", "Wings"),
    ("hub/card.py", "from ..data import files", "Wings"),
    ("training/recipe.py", "from .. import cli", "Wings"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path, module, line, contract):
    shutil.copytree(ROOT / "modeling", tmp_path / "modeling", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    path = tmp_path / "modeling" / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")
    code, output = lint_imports(tmp_path)
    assert code != 0 and f"{contract}" in output and "BROKEN" in output, output


def project_files():
    return sorted(p for d in PROJECT_DIRS for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def private_imports(path, root=ROOT):
    """``from <project module> import _name`` statements in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("modeling")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"{path.relative_to(root)}:{node.lineno} imports {alias.name}"


def test_no_private_name_is_imported_across_modules():
    assert [hit for path in project_files() for hit in private_imports(path)] == []


def test_the_private_import_check_finds_one(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("from modeling.hub.upload import _one_line\nfrom .files import _read_csv, read_table\n")
    assert list(private_imports(path, tmp_path)) == ["x.py:1 imports _one_line", "x.py:2 imports _read_csv"]


def long_functions(path, limit=MAX_FUNCTION_LINES):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(ROOT)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno - n.lineno + 1 > limit]


def test_no_function_in_the_library_is_longer_than_80_lines():
    library = sorted((ROOT / "modeling").rglob("*.py"))
    assert [hit for path in library for hit in long_functions(path)] == []
    assert long_functions(ROOT / "modeling" / "model.py", limit=20)  # the check does see functions


def test_every_python_file_of_the_package_compiles(tmp_path):
    # Templates that are not Python carry another suffix (space_app.py.tmpl), so this holds.
    assert compileall.compile_dir(str(ROOT / "modeling"), quiet=1, force=True, legacy=False,
                                  ddir=str(tmp_path))


def test_every_core_module_is_under_the_core_contract():
    # A new flat module is vendored into the Endpoint (modeling.hub.upload.VENDORED_MODULES), so the
    # core contract must cover it: it lists its modules by name, and this keeps the list complete.
    import configparser

    from modeling.hub.upload import VENDORED_MODULES

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["importlinter:contract:core"]["source_modules"].split())
    assert {f"modeling.{Path(name).stem}" for name in VENDORED_MODULES} == listed
