"""The Hub wing: what a trained model becomes for sharing — the upload folder (model card, Endpoint
handler and its vendored inference code), the Gradio demo and Space, the ONNX export. Imports only
the core; nothing in the core, data or training wings imports it (but ``train(push_to_hub=True)``)."""
