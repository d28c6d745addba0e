"""The project uses only public, documented APIs of the HF libraries it depends on.

Undocumented helpers can vanish in a minor release (accelerate 1.16 removed
``accelerate.utils.is_weights_only_available``), which breaks fresh installs while CI on older
packages stays green. This test reads
every Python file of the project and fails on any submodule of those libraries that is not on the
list below, so such an import cannot come back unnoticed. Names the libraries export at top level
(``datasets.load_dataset``, ``huggingface_hub.HfApi``) are public by definition.
"""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("accelerate", "datasets", "evaluate", "huggingface_hub", "tokenizers")
# Submodules (or names inside them) that the libraries document; a prefix allows what lies below it.
DOCUMENTED = {
    "accelerate.logging",  # get_logger: docs "Logging"
    "accelerate.utils.set_seed", "accelerate.utils.ProjectConfiguration",  # docs "Utilities"
    # docs "Utilities: data manipulation and operations"; the distributed-inference guide gathers with it
    "accelerate.utils.gather_object", "accelerate.utils.broadcast_object_list",
    "datasets.distributed.split_dataset_by_node",  # docs "Use with PyTorch: distributed" and "Main classes"
    "accelerate.commands.launch",  # `python -m accelerate.commands.launch`, the launcher's module form
    "datasets.logging",  # docs "Utilities: configure logging"
    "huggingface_hub.utils.validate_repo_id", "huggingface_hub.utils.HFValidationError",  # docs "Utilities"
    "huggingface_hub.errors",  # docs "Errors"
    "tokenizers.models", "tokenizers.trainers", "tokenizers.pre_tokenizers", "tokenizers.normalizers",
    "tokenizers.processors", "tokenizers.decoders",
}
# Settings the tests point at temp folders (read once at import, so an environment variable is too late).
TESTS_ONLY = {"datasets.config", "evaluate.config", "huggingface_hub.constants"}


def _python_files():
    for folder in ("modeling", "scripts", "bench", "tests"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def _uses(tree):
    """Dotted names of library objects the module touches: imports and attribute chains."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in LIBRARIES:
                    yield node.lineno, alias.name
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.asname and alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and not isinstance(getattr(node, "parent", None), ast.Attribute):
            name = _dotted(node)
            root = name and name.split(".")[0]
            if root in aliases:
                yield node.lineno, (aliases[root] or root) + name[len(root):]


def _is_submodule(dotted):
    try:
        return importlib.util.find_spec(dotted) is not None
    except (ImportError, ValueError):
        return False


def _private_part(dotted, allowed):
    """The part of ``dotted`` that is neither a top-level public name nor documented, or None."""
    parts = dotted.split(".")
    if len(parts) == 1 or any(dotted == a or dotted.startswith(a + ".") for a in allowed):
        return None
    head = ".".join(parts[:2])
    if parts[1].startswith("_") or _is_submodule(head):  # an undocumented submodule
        return head
    return None


def _violations():
    found = []
    for path in _python_files():
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except SyntaxError:
            if path.parent.name == "templates":  # a str.format template (the Space's app.py), not Python yet
                continue
            raise
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                child.parent = node
        allowed = DOCUMENTED | (TESTS_ONLY if path.parts[-2] == "tests" or "tests" in path.parts else set())
        for lineno, dotted in _uses(tree):
            private = _private_part(dotted, allowed)
            if private:
                found.append(f"{path.relative_to(ROOT)}:{lineno}: {dotted} (via {private})")
    return found


def test_only_public_apis_of_the_hf_libraries():
    assert _violations() == []


@pytest.mark.parametrize("source, bad", [
    ("from accelerate.utils import is_weights_only_available", "accelerate.utils.is_weights_only_available"),
    ("import datasets\ndatasets.utils.are_progress_bars_disabled()", "datasets.utils.are_progress_bars_disabled"),
    ("import evaluate\nevaluate.utils.file_utils.add_start_docstrings", "evaluate.utils.file_utils"),
    ("from huggingface_hub.file_download import repo_folder_name", "huggingface_hub.file_download.repo_folder_name"),
])
def test_the_check_catches_private_helpers(source, bad):
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node
    flagged = [dotted for _, dotted in _uses(tree) if _private_part(dotted, DOCUMENTED)]
    assert any(d.startswith(bad) for d in flagged), flagged


def test_the_check_allows_public_names():
    tree = ast.parse("import datasets\nfrom accelerate.utils import set_seed\ndatasets.load_dataset\n"
                     "datasets.logging.set_verbosity_error()\nfrom tokenizers.models import WordLevel")
    assert [d for _, d in _uses(tree) if _private_part(d, DOCUMENTED)] == []
