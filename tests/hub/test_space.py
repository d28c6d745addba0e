"""The Gradio Space for a model repo: its folder (built without gradio or the network), the push with
HfApi replaced at the network boundary, and the links between the Space and the model card."""

import ast

import pytest
import yaml

from modeling.hub import space
from tests.hub.test_upload import REPO_ID, front_matter, push_to_hub, read_tree, run_dir, fake_hub  # noqa: F401

SPACE_ID = "alice/bilstm-fake-news-demo"


def test_space_folder_is_a_gradio_space_that_loads_the_model_by_id(tmp_path):
    folder = space.build_space_folder(tmp_path / "space", SPACE_ID, REPO_ID, revision="v1")
    assert sorted(p.name for p in folder.iterdir()) == sorted(space.SPACE_FILES)
    meta = front_matter(folder / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["sdk_version"] == space.GRADIO_VERSION
    assert meta["models"] == [REPO_ID]  # the model page lists the Space
    assert f"https://huggingface.co/{REPO_ID}" in (folder / "README.md").read_text()
    app = (folder / "app.py").read_text()
    constants = {node.targets[0].id: node.value for node in ast.parse(app).body if isinstance(node, ast.Assign)}
    assert ast.literal_eval(constants["MODEL_ID"].values[1]) == REPO_ID
    assert ast.literal_eval(constants["REVISION"].values[1]) == "v1"
    assert (folder / "demo.py").read_bytes() == space.DEMO_MODULE.read_bytes()
    requirements = (folder / "requirements.txt").read_text().split()
    assert "torch>=2.1" in requirements and not any(r.startswith("gradio") for r in requirements)  # the SDK's own


def test_space_needs_full_ids_and_a_fresh_folder(tmp_path):
    with pytest.raises(space.HubError, match="full model repo id"):
        space.build_space_folder(tmp_path / "a", SPACE_ID, "bilstm-fake-news")
    with pytest.raises(space.HubError, match="invalid"):
        space.build_space_folder(tmp_path / "b", "alice/bad--name", REPO_ID)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds other files"):
        space.build_space_folder(tmp_path / "c", SPACE_ID, REPO_ID)
    space.build_space_folder(tmp_path / "d", SPACE_ID, REPO_ID)
    space.build_space_folder(tmp_path / "d", SPACE_ID, REPO_ID)  # a previous build is replaced


def test_push_space_creates_a_gradio_space_in_one_commit(tmp_path, fake_hub):
    url = space.push_space(SPACE_ID, REPO_ID, token="hf_test")
    assert url == f"https://huggingface.co/spaces/{SPACE_ID}"
    assert [c[0] for c in fake_hub] == ["whoami", "create_repo", "upload_folder"]
    assert fake_hub[1] == ("create_repo", SPACE_ID, {"repo_type": "space", "space_sdk": "gradio",
                                                     "private": False, "exist_ok": True})
    _, kwargs, tree = fake_hub[2]
    assert kwargs["repo_type"] == "space" and kwargs["repo_id"] == SPACE_ID
    assert tree == read_tree(space.build_space_folder(tmp_path / "same", SPACE_ID, REPO_ID))


def test_script_dry_run_and_push_with_a_space(run_dir, tmp_path, fake_hub, capsys):  # noqa: F811
    out = tmp_path / "dry"
    argv = ["--model_dir", str(run_dir), "--hub_model_id", REPO_ID, "--space_id", SPACE_ID]
    assert push_to_hub.main([*argv, "--dry_run", str(out)]) == 0
    assert fake_hub == []
    card = (out / "model" / "README.md").read_text()
    assert f"(https://huggingface.co/spaces/{SPACE_ID})" in card  # the card links the Space
    assert front_matter(out / "space" / "README.md")["models"] == [REPO_ID]
    assert push_to_hub.main([*argv, "--token", "hf_test"]) == 0
    assert capsys.readouterr().out.split() == [f"https://huggingface.co/{REPO_ID}/commit/abc123",
                                               f"https://huggingface.co/spaces/{SPACE_ID}"]
    uploads = [c for c in fake_hub if c[0] == "upload_folder"]
    assert [u[1].get("repo_type") for u in uploads] == [None, "space"]  # the model first: the Space loads it
    assert uploads[0][2] == read_tree(out / "model") and uploads[1][2] == read_tree(out / "space")


def test_script_refuses_a_space_without_full_ids(run_dir, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as exit_info:
        push_to_hub.main(["--model_dir", str(run_dir), "--hub_model_id", "bilstm", "--space_id", SPACE_ID])
    assert exit_info.value.code == 2 and "--space_id needs full ids" in capsys.readouterr().err


def test_yaml_of_the_card_without_a_space_has_no_link(run_dir, tmp_path):  # noqa: F811
    from modeling.hub import upload as hub

    folder = hub.build_upload_folder(run_dir, tmp_path / "up", REPO_ID)
    assert "huggingface.co/spaces/" not in (folder / "README.md").read_text()
    assert yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])["library_name"] == "pytorch"
