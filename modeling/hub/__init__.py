"""The Hub wing: what a trained model becomes for sharing — the upload folder (model card, Endpoint
handler and its vendored inference code), the Gradio demo and Space, the ONNX export. Imports only
the core; nothing in the core or the data wing imports it, and training only to push (``--push_to_hub``)."""

from .card import render_model_card
from .space import build_space_folder, push_space
from .upload import HubError, build_upload_folder, check_can_push, push_model_dir

__all__ = ["HubError", "build_space_folder", "build_upload_folder", "check_can_push", "push_model_dir", "push_space",
           "render_model_card"]
