"""Where a model lives and what its folder holds.

A model is named by a local folder or a Hub repo id. :func:`resolve_source` decides which, once per
load, and every loader (the torch model, the onnxruntime session, the tokenizer, the scripts) takes the
:class:`ModelSource` it returns and asks it for files. Local first: a name that looks like a path but
is no folder fails at once. A Hub repo is asked once, with a short timeout and without the Hub client's
retries (a minute of ``Retrying in 8s`` lines when there is no network): unreachable, its cached copy is
used, else one line says so.

Also here: the names of the files a model folder holds, and whether the training run that wrote a
folder finished (``run_status.json``, written by ``modeling.training.run_folder``), which prediction
warns about.
"""

import difflib
import json
import logging
import os
from pathlib import Path

from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
EVAL_RESULTS_FILE = "eval_results.json"
RUN_STATUS_FILE = "run_status.json"
PROBE_TIMEOUT_S = 5.0  # one request for config.json; a reachable Hub answers in well under a second


class ModelSource:
    """A model resolved to its place: a local ``folder``, or the Hub repo ``name`` with the HF cache
    options (``revision``, ``cache_dir``, ``token``, ``local_files_only``, ``force_download``)."""

    def __init__(self, name, folder=None, hub_options=None):
        self.name, self.folder, self.hub_options = name, folder, dict(hub_options or {})

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"ModelSource({self.name!r}, folder={self.folder!r})"

    @property
    def is_local(self):
        return self.folder is not None

    def file(self, filename):
        """The local path of ``filename``: in the folder (which must hold it), else downloaded from the
        repo through the HF cache."""
        if self.folder is None:
            return hf_hub_download(repo_id=self.name, filename=filename, **self.hub_options)
        path = self.folder / filename
        if not path.is_file():
            listing = ", ".join(sorted(os.listdir(self.folder))) or "nothing"
            raise FileNotFoundError(f"{self.folder}: no {filename} in this folder (it holds: {listing})")
        return str(path)

    def find(self, filenames):
        """The local path of the first of ``filenames`` the model has, or ``None``."""
        for filename in filenames:
            if self.folder is not None:
                if (self.folder / filename).is_file():
                    return str(self.folder / filename)
                continue
            try:
                return self.file(filename)
            except (EntryNotFoundError, LocalEntryNotFoundError):
                continue
        return None

    def read_json(self, filename):
        """The parsed JSON file ``filename``; malformed JSON is one ``ValueError`` line naming it."""
        path = self.file(filename)
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None


def resolve_source(name_or_path, *, revision=None, cache_dir=None, token=None, local_files_only=False,
                   force_download=False):
    """Where ``name_or_path`` lives, local first: a :class:`ModelSource` (returned as is when given one).

    A name that looks like a path but is no folder (it starts with ``.``, ``/`` or ``~``, holds a
    backslash or more than one ``/``, or is ``a/b`` where ``a`` is a local folder) raises
    ``FileNotFoundError`` naming what the nearest folder holds. Any other name is a Hub repo id: the Hub
    is asked once for its ``config.json`` (unless ``local_files_only`` or ``HF_HUB_OFFLINE``);
    unreachable, the load goes on from the HF cache with ``local_files_only``, or fails with one line.
    """
    if isinstance(name_or_path, ModelSource):
        return name_or_path
    name = os.fspath(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelSource(name, folder=path)
    first = name.split("/")[0]
    if (not name.strip() or name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1
            or (name.count("/") == 1 and os.path.isdir(first))):
        raise FileNotFoundError(f"{name}: no such local folder ({nearest_listing(name)})")
    options = dict(revision=revision, cache_dir=cache_dir, token=token, local_files_only=local_files_only,
                   force_download=force_download)
    if not local_files_only:
        error = _probe_hub(name, revision, token)
        if error is not None:
            cached = try_to_load_from_cache(name, CONFIG_FILE, cache_dir=cache_dir, revision=revision)
            if force_download or not isinstance(cached, str):
                raise FileNotFoundError(_unreachable_message(name, error))
            logger.warning("%s: the Hugging Face Hub cannot be reached; using the copy in the HF cache", name)
            options["local_files_only"] = True
    return ModelSource(name, hub_options=options)


def _probe_hub(repo_id, revision, token):
    """``None`` when the Hub answers a request for the repo's ``config.json`` (even with an HTTP error,
    which the download then reports) or offline mode is on (the HF cache answers), else the transport
    error: one request, no retries, a short timeout."""
    try:
        get_hf_file_metadata(hf_hub_url(repo_id, CONFIG_FILE, revision=revision), token=token,
                             timeout=PROBE_TIMEOUT_S)
    except (HfHubHTTPError, OfflineModeIsEnabled, ValueError):
        return None  # the Hub answered (no such repo, gated, ...), HF_HUB_OFFLINE, or no valid repo id
    except Exception as err:  # connection refused, DNS failure, timeout: the HTTP client's own types
        return err
    return None


def _unreachable_message(name, error):
    reason = " ".join(str(error).split())[:200] or type(error).__name__
    return (f"{name}: no such local folder ({nearest_listing(name)}), and as a Hub repo id it cannot be fetched:"
            f" the Hugging Face Hub cannot be reached ({reason}) and the HF cache holds no copy of it"
            f"{_closest_local(name)}")


def _closest_local(name):
    """``"; did you mean the local folder X?"`` when ``name`` is one typo away from a local folder."""
    parent, base = os.path.split(name)
    if parent and not os.path.isdir(parent):  # a mistyped first part: "outputs/run" where "output/" exists
        parent, base = "", name.split("/")[0]
    folders = [n for n in os.listdir(parent or ".") if os.path.isdir(os.path.join(parent or ".", n))]
    close = difflib.get_close_matches(base, folders, n=1, cutoff=0.8)
    return f"; did you mean the local folder {os.path.join(parent, close[0])}?" if close else ""


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


def read_run_status(model_dir):
    """The parsed ``run_status.json`` of a local run folder, or ``None`` (no such file: a Hub repo,
    a folder saved by ``save_pretrained``, or a run of a ``train.py`` that did not write one)."""
    path = Path(model_dir) / RUN_STATUS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {"state": "unreadable", "finished": False}


def unfinished_message(model_dir):
    """One line saying that the run in ``model_dir`` did not finish, or ``None`` if it did."""
    status = read_run_status(model_dir)
    if status is None or status.get("finished"):
        return None
    state = status.get("state")
    how = {"interrupted": f"was interrupted at step {status.get('global_step')}",
           "diverged": f"stopped at step {status.get('global_step')} on a non-finite loss",
           "running": "has not finished (it is still running, or it was killed)"}.get(state, "did not finish")
    best = status.get("best_global_step")
    kept = f"the model there is the best one up to step {best}" if best is not None else "it may hold no model"
    return f"{model_dir}: its training run {how}; {kept}, not a finished run's"


def warn_if_unfinished(source, log=logger):
    """Log a warning when ``source`` (a :class:`ModelSource` or a name) is the local folder of a run
    that did not finish: Ctrl-C or a kill leaves the best model so far, not a finished run's."""
    folder = source.folder if isinstance(source, ModelSource) else Path(os.fspath(source))
    message = unfinished_message(folder) if folder is not None and folder.is_dir() else None
    if message:
        log.warning(message)
    return message
