"""A Gradio Space for a model repository: build its folder, push it.

The Space holds ``README.md`` (its YAML: ``sdk: gradio``, ``models: [<model repo>]``, which also makes
the model page list the Space), ``app.py`` (loads the model repo by id), ``demo.py`` (a copy of
``modeling/demo.py``) and ``requirements.txt``. The model card links back with ``space_id``
(``modeling.hub.card.render_model_card``). Building needs neither gradio nor the network.
"""

import shutil
import tempfile
from pathlib import Path

from huggingface_hub import HfApi

from .upload import HubError, call_hub, check_can_push, check_repo_id
from ..utils import atomic_path

_PACKAGE_DIR = Path(__file__).resolve().parent
APP_TEMPLATE = _PACKAGE_DIR / "templates" / "space_app.py.tmpl"
DEMO_MODULE = _PACKAGE_DIR / "demo.py"
SPACE_FILES = ("README.md", "app.py", "demo.py", "requirements.txt")
# The gradio the app was tested with (tests/hub/test_demo.py); the Space image installs this version.
GRADIO_VERSION = "6.31.0"
# gradio and huggingface_hub come with the Space image; the CPU build of torch is enough (and small).
REQUIREMENTS = """\
--extra-index-url https://download.pytorch.org/whl/cpu
torch>=2.1
tokenizers>=0.19
safetensors>=0.4.3
"""


def space_readme(space_id, model_id, license="apache-2.0"):
    """The Space's ``README.md``: its configuration (YAML) and a line linking the model."""
    name = space_id.split("/")[-1]
    return (
        "---\n"
        f"title: {name}\n"
        "emoji: 📰\n"
        "colorFrom: blue\n"
        "colorTo: red\n"
        "sdk: gradio\n"
        f"sdk_version: {GRADIO_VERSION}\n"
        "python_version: '3.11'\n"
        "app_file: app.py\n"
        "pinned: false\n"
        f"license: {license}\n"
        "models:\n"
        f"  - {model_id}\n"
        f"short_description: Try the {model_id.split('/')[-1]} text classifier\n"
        "---\n\n"
        f"# {name}\n\n"
        f"A live demo of [{model_id}](https://huggingface.co/{model_id}), a BiLSTM text classifier: paste a text,\n"
        "get the probability of every label. The numbers are the model's own (`model.predict`), the same as\n"
        "its Inference Endpoint handler and `transformers.pipeline` give.\n"
    )


def build_space_folder(out_dir, space_id, model_id, *, revision=None, license="apache-2.0"):
    """Write the Space's files into ``out_dir`` (built aside, renamed into place) and return it."""
    check_repo_id(space_id)
    check_repo_id(model_id)
    if "/" not in model_id:
        raise HubError(f"the Space needs the full model repo id, 'user-or-org/{model_id}', to load it")
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or {p.name for p in out_dir.iterdir()} - set(SPACE_FILES)):
        raise FileExistsError(f"{out_dir}: already exists and holds other files; choose a new folder")
    app = APP_TEMPLATE.read_text(encoding="utf-8")
    app = app.replace("{model_id!r}", repr(model_id)).replace("{revision!r}", repr(revision))
    app = app.replace("{model_id}", model_id)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        (tmp / "README.md").write_text(space_readme(space_id, model_id, license), encoding="utf-8")
        (tmp / "app.py").write_text(app, encoding="utf-8")
        shutil.copyfile(DEMO_MODULE, tmp / "demo.py")
        (tmp / "requirements.txt").write_text(REQUIREMENTS, encoding="utf-8")
    return out_dir


def push_space(space_id, model_id, *, token=None, private=False, revision=None, license="apache-2.0"):
    """Create (or update) the Gradio Space ``space_id`` for ``model_id`` in one commit; return its URL."""
    token, space_id = check_can_push(space_id, token)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="bilstm-space-") as tmp:
        folder = build_space_folder(Path(tmp) / "space", space_id, model_id, revision=revision, license=license)
        space_id = call_hub("creating the Space", api.create_repo, space_id, repo_type="space", space_sdk="gradio",
                         private=private, exist_ok=True).repo_id
        call_hub("uploading the Space", api.upload_folder, repo_id=space_id, repo_type="space",
              folder_path=str(folder), commit_message=f"Gradio demo of {model_id}")
    return f"https://huggingface.co/spaces/{space_id}"
