"""modeling.utils: the mode of written files (atomic writes: tests/test_reliability.py)."""

import os
import stat

from modeling.utils import give_default_mode
from tests.hub.test_upload import tiny_model


def test_saved_files_get_the_default_mode(tmp_path):
    """model.safetensors gets the mode every other file gets (safetensors alone writes 600)."""
    tiny_model().save_pretrained(tmp_path / "run")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run").iterdir()}
    mask = os.umask(0)
    os.umask(mask)
    assert modes["model.safetensors"] == modes["config.json"] == 0o666 & ~mask
    path = tmp_path / "f"
    path.write_text("x")
    os.chmod(path, 0o600)
    give_default_mode(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
