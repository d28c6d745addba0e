"""Small helpers shared by the library and the scripts: atomic writes, and where a model lives (a
local folder or a Hub repo, local first)."""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import hf_hub_download


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Works for files and folders: whatever the caller writes at the yielded path replaces
    ``path`` in one ``os.replace`` (a folder that already exists is moved aside first and
    removed after), so a crash never leaves a half-written artifact behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(target, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(target, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def give_default_mode(path):
    """Give ``path`` the permissions ``open()`` gives a new file (0o666 less the umask, usually 644):
    safetensors 0.8 writes its files with mode 600, readable by their owner only."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def model_source(name_or_path):
    """Where a model lives, local first: a local folder (a ``Path``) or a Hub repo id (a ``str``).

    Every loader (the torch model, the onnxruntime classifier, the tokenizer, the scripts) asks this
    before anything asks the Hub. A name that looks like a path but is no folder (it starts with
    ``.``, ``/`` or ``~``, holds a backslash or more than one ``/``, or is ``a/b`` where ``a`` is a
    local folder) raises ``FileNotFoundError`` at once, naming what the nearest folder holds: sent to
    the Hub, it would be retried for most of a minute before failing.
    """
    name = os.fspath(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    first = name.split("/")[0]
    if (not name.strip() or name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
            or (name.count("/") == 1 and os.path.isdir(first))):
        raise FileNotFoundError(f"{name}: no such local folder ({nearest_listing(name)})")
    return name


def model_file(source, filename, hub_options):
    """The path of ``filename`` of a model: in its folder (which must hold it), else downloaded
    from its Hub repo through the HF cache (``hub_options``: revision, cache_dir, token, ...)."""
    source = model_source(source)
    if isinstance(source, Path):
        path = source / filename
        if not path.is_file():
            listing = ", ".join(sorted(os.listdir(source))) or "nothing"
            raise FileNotFoundError(f"{source}: no {filename} in this folder (it holds: {listing})")
        return str(path)
    return hf_hub_download(repo_id=source, filename=filename, **hub_options)


def nearest_listing(name, limit=8):
    """What the nearest existing folder above ``name`` holds, for a "no such folder" message."""
    parent = os.path.dirname(os.path.expanduser(name).rstrip("/"))
    while parent and not os.path.isdir(parent):
        parent = os.path.dirname(parent.rstrip("/"))
    folder = parent or "."
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
    where = "the current folder" if folder == "." else f"{folder}/"
    return f"{where} holds: {shown or 'nothing'}"
