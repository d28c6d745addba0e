"""A Gradio app for a trained model: a text box in, every class probability out (``gr.Label``).

The model's name, labels and test accuracy are shown above the box, and the model card's widget
texts are clickable examples. Requests are checked as the Inference Endpoint handler checks them
(the same limits, the same one-line messages), so an empty text, a text over the character limit or
a batch over the size limit gets a clear error on the page instead of a crash.

Besides the page, the app serves two API routes (``gradio_client``): ``/classify`` (one text → the
``gr.Label`` value) and ``/classify_batch`` (a list of up to ``MAX_BATCH_SIZE`` texts → one
``{label: probability}`` dict per text).

This module needs only ``gradio`` and the standard library; the model is passed in, so the same file
serves ``scripts/demo.py`` and, copied next to ``app.py``, a Hugging Face Space. Edit it here
(``modeling/demo.py``); the Space's copy is generated from it.
"""

import json
from pathlib import Path

import gradio as gr

MAX_BATCH_SIZE = 64  # texts per request, as handler.py
MAX_TEXT_CHARS = 100_000  # characters per text, as handler.py
MAX_EXAMPLES = 5


def check_texts(texts):
    """Raise ``ValueError`` with the Endpoint handler's message if ``texts`` is not a valid request."""
    if not isinstance(texts, list):
        raise ValueError("the texts must be a list of strings")
    if not texts:
        raise ValueError("the list of texts is empty: send at least one text")
    if len(texts) > MAX_BATCH_SIZE:
        raise ValueError(f"{len(texts)} texts were sent; the limit is {MAX_BATCH_SIZE} per request")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"text {i} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"text {i} is empty: type or paste some text" if len(texts) > 1 else
                             "the text is empty: type or paste some text")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"text {i} has {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")


def read_model_info(folder, name=None, default_examples=()):
    """What the page shows about the model in ``folder`` (a saved model or a Hub snapshot).

    Returns a dict: ``name``, ``labels`` (from ``config.json``), ``test_accuracy`` and
    ``test_examples`` (from ``eval_results.json``, else ``all_results.json``; ``None`` if absent) and
    ``examples`` (the widget texts of ``README.md``, else ``default_examples``).
    """
    folder = Path(folder)
    # Literal file names: this module is copied alone into a Space (modeling.hub.space) and imports no
    # project module; modeling.source.CONFIG_FILE / EVAL_RESULTS_FILE name the same files.
    config = _read_json(folder / "config.json") or {}
    results = _read_json(folder / "eval_results.json") or {}
    accuracy, count = results.get("accuracy"), results.get("num_examples")
    if accuracy is None:
        accuracy = (_read_json(folder / "all_results.json") or {}).get("test_accuracy")
    examples = _widget_texts(folder / "README.md") or list(default_examples)
    return {
        "name": name or folder.resolve().name,
        "labels": list(config.get("label_names") or []),
        "test_accuracy": accuracy if isinstance(accuracy, (int, float)) else None,
        "test_examples": count if isinstance(count, int) else None,
        "examples": examples[:MAX_EXAMPLES],
    }


def _read_json(path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _widget_texts(readme):
    """The ``text`` of each ``widget:`` entry in a model card's YAML header."""
    if not readme.is_file():
        return []
    from huggingface_hub import ModelCard  # a dependency of gradio too

    widget = ModelCard.load(readme).data.to_dict().get("widget") or []
    return [entry["text"] for entry in widget if isinstance(entry, dict) and isinstance(entry.get("text"), str)]


def header_markdown(info):
    """The Markdown shown above the text box: name, labels, backend, test accuracy."""
    lines = [f"# {info['name']}", ""]
    if "/" in info["name"]:
        lines.append(f"Model: [{info['name']}](https://huggingface.co/{info['name']})  ")
    if info["labels"]:
        lines.append("Labels: " + ", ".join(f"`{label}`" for label in info["labels"]) + "  ")
    if info.get("backend"):  # modeling.serving.describe_backend of the model that serves the page
        lines.append(f"Served by: {info['backend']}  ")
    if info["test_accuracy"] is not None:
        on = f" on {info['test_examples']:,} held-out examples" if info["test_examples"] else ""
        lines.append(f"Test accuracy: **{info['test_accuracy']:.4f}**{on}")
    return "\n".join(lines)


def make_classifiers(model):
    """``(classify, classify_batch)``: the app's two functions around ``model.predict``."""

    def classify_batch(texts: list[str]) -> list[dict[str, float]]:
        try:
            check_texts(texts)
        except ValueError as err:
            raise gr.Error(str(err), print_exception=False) from None  # the page shows it; no console traceback
        predictions = model.predict(texts, batch_size=MAX_BATCH_SIZE)
        skipped = [i for i, prediction in enumerate(predictions) if prediction["label"] is None]
        if skipped:  # too short to classify, as training skips such texts (model.predict's "skipped")
            where = f"text {skipped[0]}" if len(texts) > 1 else "the text"
            raise gr.Error(f"{where} is too short: {predictions[skipped[0]]['skipped']}", print_exception=False)
        return [prediction["scores"] for prediction in predictions]

    def classify(text: str) -> dict[str, float]:
        return classify_batch([text if isinstance(text, str) else ""])[0]

    return classify, classify_batch


def build_demo(model, info):
    """The ``gr.Blocks`` app for ``model`` (anything with ``predict(texts)`` returning ``scores``)."""
    classify, classify_batch = make_classifiers(model)
    num_labels = max(len(info["labels"]), 1)
    with gr.Blocks(title=info["name"]) as demo:
        gr.Markdown(header_markdown(info))
        first = info["examples"][0] if info["examples"] else ""
        text = gr.Textbox(value=first, label="Text", lines=8, placeholder="Paste a news article or a headline")
        button = gr.Button("Classify", variant="primary")
        # The page opens with its first example classified (computed here, so no request is needed).
        label = gr.Label(value=classify(first) if first else None, num_top_classes=num_labels, label="Probabilities")
        button.click(classify, inputs=text, outputs=label, api_name="classify")
        text.submit(classify, inputs=text, outputs=label, api_name=False)
        if info["examples"]:
            gr.Examples(examples=[[t] for t in info["examples"]], inputs=text, outputs=label, fn=classify,
                        run_on_click=True, cache_examples=False)
        gr.Markdown(f"The model reads the first tokens of each text only (see the model card). Limits per"
                    f" request: {MAX_BATCH_SIZE} texts, {MAX_TEXT_CHARS:,} characters each.")
        gr.api(classify_batch, api_name="classify_batch")
    return demo
