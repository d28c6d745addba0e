"""The model card (``README.md``) of a trained run, rendered from ``model_card.md`` with ``ModelCard``.

Everything on the card comes from the run folder: ``config.json``, ``eval_results.json``,
``all_results.json``, ``metrics.json``, ``training_args.json`` and ``card_data.json`` (what
``train.py`` learnt about the data: its name, a language guess, example texts from the
validation split) when present (sections without their file are left out), and the widget's
example outputs, computed by the model itself. Flags (``push_to_hub.py --language``, ...)
override what the data says. News wording, the ``fake-news`` tag and the news widget examples
are used only for REAL/FAKE labels; the McIntire citation only for the fake_or_real_news data.
"""

import ast
import importlib.metadata
import json
import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..model import BiLSTMForSequenceClassification
from ..source import EVAL_RESULTS_FILE

TEMPLATE_NAME = "model_card.md"
_PACKAGE_DIR = Path(__file__).resolve().parent
HANDLER_TEMPLATE = _PACKAGE_DIR / "templates" / "handler.py"

RUN_JSON_FILES = (EVAL_RESULTS_FILE, "all_results.json", "metrics.json", "training_args.json", "card_data.json")
DEFAULT_TAGS = ["text-classification", "bilstm", "lstm", "pytorch"]
NEWS_TAGS = ["fake-news"]
NEWS_LABELS = {"REAL", "FAKE"}
# The card's license when none is given: the training data's terms decide it, and only the user knows them.
DEFAULT_LICENSE = "unknown"
LANGUAGE_NAMES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch"}
DEFAULT_WIDGET_TEXTS = (
    "Scientists at NASA confirmed on Tuesday that the rover collected its first rock sample, "
    "the agency said in a statement.",
    "SHOCKING: doctors don't want you to know this one weird trick, the miracle cure the "
    "government has been hiding for years!!",
    "The Senate passed the infrastructure bill on Thursday after weeks of negotiations, sending "
    "it to the House for a final vote.",
)
# For the code examples on the card: no quote characters, so it can sit inside '...' and "...".
EXAMPLE_TEXT = "The Senate passed the infrastructure bill on Thursday after weeks of negotiations."
# (eval_results.json key, model-index metric type, metric config, display name)
MODEL_INDEX_METRICS = (
    ("accuracy", "accuracy", None, "Accuracy"),
    ("macro_f1", "f1", "macro", "Macro F1"),
    ("weighted_f1", "f1", "weighted", "Weighted F1"),
    ("macro_precision", "precision", "macro", "Macro precision"),
    ("macro_recall", "recall", "macro", "Macro recall"),
    ("weighted_precision", "precision", "weighted", "Weighted precision"),
    ("weighted_recall", "recall", "weighted", "Weighted recall"),
)
# all_results.json keys standing in for eval_results.json when the run was not evaluated separately.
_ALL_RESULTS_FALLBACK = {"test_accuracy": "accuracy", "test_macro_f1": "macro_f1",
                         "test_weighted_f1": "weighted_f1", "test_loss": "loss"}
# The training_args.json entries that are hyper-parameters (the architecture has its own table);
# paths, bookkeeping and sharing settings stay off the card. max_train_steps is the key that run
# folders written before --max_steps hold, so their cards keep the limit.
HYPERPARAMETERS = ("model_name_or_path", "max_length", "min_frequency", "lowercase", "max_train_samples",
                   "num_train_epochs", "max_steps", "max_train_steps", "early_stopping_patience", "min_steps",
                   "per_device_train_batch_size", "gradient_accumulation_steps",
                   "learning_rate", "lr_scheduler_type", "num_warmup_steps", "weight_decay", "max_grad_norm",
                   "train_precision", "seed", "eval_steps", "pretrained_embeddings", "vector_vocab_size",
                   "vector_words", "freeze_embeddings")


def project_url():
    """The project's code repository URL from the installed package's metadata (setup.cfg ``url``),
    or ``None``: the card then names the project without a link (never a placeholder)."""
    try:
        meta = importlib.metadata.metadata("bilstm-text-classifier")
    except importlib.metadata.PackageNotFoundError:
        return None
    urls = [meta.get("Home-page")] + [u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []]
    return next((u for u in urls if u and u.startswith("http")), None)


def label_phrase(label_names):
    """How the card's first sentence names the classes: "as `REAL` or `FAKE`" for two, "into one of
    6 classes: `ABBR`, `DESC`, ... and `NUM`" for more."""
    quoted = [f"`{name}`" for name in label_names]
    if len(quoted) == 2:
        return f"as {quoted[0]} or {quoted[1]}"
    return f"into one of {len(quoted)} classes: {', '.join(quoted[:-1])} and {quoted[-1]}"


def model_card_template_path():
    """The model card template shipped in the package (the repository's ``model_card.md`` links to it)."""
    return _PACKAGE_DIR / "templates" / TEMPLATE_NAME


def read_run_files(model_dir):
    """Parsed JSON files of a run folder, by file name (absent files are left out)."""
    found = {}
    for name in RUN_JSON_FILES:
        path = Path(model_dir) / name
        if path.is_file():
            try:
                found[name] = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: not valid JSON ({err})") from None
    return found


def reported_metrics(run_files):
    """The test scores to report: ``eval_results.json``, else ``all_results.json``'s ``test_*`` keys."""
    if EVAL_RESULTS_FILE in run_files:
        return run_files[EVAL_RESULTS_FILE]
    all_results = run_files.get("all_results.json", {})
    return {new: all_results[old] for old, new in _ALL_RESULTS_FALLBACK.items() if old in all_results}


def eval_results_for_model_index(metrics, dataset_id=None, dataset_name=None):
    """``EvalResult`` entries (the card's ``model-index``) for the scores present in ``metrics``."""
    test_file = metrics.get("test_file") if isinstance(metrics.get("test_file"), str) else None
    dataset_name = dataset_name or (Path(test_file).name if test_file else "test split")
    return [
        EvalResult(task_type="text-classification", task_name="Text Classification",
                   dataset_type=dataset_id or "csv", dataset_name=dataset_name,
                   dataset_split="test", metric_type=metric_type, metric_config=config,
                   metric_name=name, metric_value=metrics[key])
        for key, metric_type, config, name in MODEL_INDEX_METRICS
        if isinstance(metrics.get(key), (int, float))
    ]


def widget_examples(model, texts):
    """Hub widget entries: each text with the model's own output, labels sorted by score."""
    examples = []
    for i, (text, prediction) in enumerate(zip(texts, model.predict(list(texts), min_chars=0))):
        ranked = sorted(prediction["scores"].items(), key=lambda pair: pair[1], reverse=True)
        examples.append({
            "text": text,
            "example_title": f"Example {i + 1}",
            "output": [{"label": label, "score": round(score, 4)} for label, score in ranked],
        })
    return examples


def handler_limits():
    """``MAX_BATCH_SIZE`` and ``MAX_TEXT_CHARS`` as written in the handler template."""
    values = {}
    for node in ast.parse(HANDLER_TEMPLATE.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("MAX_BATCH_SIZE", "MAX_TEXT_CHARS"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    return values["MAX_BATCH_SIZE"], values["MAX_TEXT_CHARS"]


def render_model_card(model_dir, hub_model_id=None, *, dataset_id=None, license=DEFAULT_LICENSE, language=None,
                      tags=(), widget_texts=None, text_kind=None, repo_url=None, model=None,
                      space_id=None, int8_gate=None):
    """Render the model card of the run in ``model_dir``.

    Args:
        model_dir: a ``train.py`` output folder (``config.json``, ``model.safetensors``,
            ``tokenizer.json``; the other run files are used when present).
        hub_model_id: the repo id the card is written for (shown in the code examples).
        dataset_id: the Hub data set the model was trained on, if any (``datasets:`` metadata).
        license: a Hub license id for the card metadata; default ``"unknown"`` (the card then says
            that the licence is not stated: the training data's terms decide it).
        language: language code(s) of the texts; default: ``train.py``'s guess from the data, if any.
        tags: extra tags, added to ``DEFAULT_TAGS``.
        widget_texts: example inputs for the Hub page (their outputs are computed by the model);
            default: texts of the validation split (``card_data.json``), else news examples for
            REAL/FAKE models, else none.
        text_kind: what the texts are, for the card's first sentence ("product reviews");
            default: "news articles" for REAL/FAKE models, else "texts".
        repo_url: the project's code repository; default: :func:`project_url` (setup.cfg ``url``;
            no link when there is none).
        model: the loaded model, to skip loading it again.
        space_id: the Gradio Space that demonstrates the model, if any (linked from the card).
        int8_gate: the gate's numbers (``model_int8_gate.json``) when the upload has the int8 graph.

    Returns:
        A ``huggingface_hub.ModelCard``.
    """
    model_dir = Path(model_dir)
    model = model or BiLSTMForSequenceClassification.from_pretrained(model_dir)
    run_files = read_run_files(model_dir)
    data = run_files.get("card_data.json") or {}
    training_args = run_files.get("training_args.json") or {}
    news = set(model.config.label_names) == NEWS_LABELS
    language = language or data.get("language")
    given = training_args.get("dataset_name") or ""  # train.py --dataset_name: a Hub id, or a local folder
    dataset_id = dataset_id or (given if re.fullmatch(r"[\w-][\w.-]*(/[\w.-]+)?", given) else None)
    dataset_name = dataset_id or data.get("dataset_name")
    if widget_texts is None:
        widget_texts = data.get("widget_texts") or (DEFAULT_WIDGET_TEXTS if news else ())
    metrics = reported_metrics(run_files)
    model_name = (hub_model_id or model_dir.resolve().name).split("/")[-1]
    eval_results = eval_results_for_model_index(metrics, dataset_id, dataset_name)
    card_data = ModelCardData(
        model_name=model_name, language=language, license=license, library_name="pytorch",
        pipeline_tag="text-classification",
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *(NEWS_TAGS if news else []), *tags])),
        datasets=[dataset_id] if dataset_id else None, metrics=["accuracy", "f1", "precision", "recall"],
        eval_results=eval_results or None, widget=widget_examples(model, widget_texts) or None,
    )
    max_batch, max_chars = handler_limits()
    context = dict(
        model_name=model_name, repo_id=hub_model_id or "<user>/<repo>", config=model.config,
        label_phrase=label_phrase(model.config.label_names),
        num_parameters=f"{sum(p.numel() for p in model.parameters()):,}",
        example_text=EXAMPLE_TEXT if news else "A text to classify.", dataset_id=dataset_id, space_id=space_id,
        dataset_name=dataset_name, news=news, text_kind=text_kind or ("news articles" if news else "texts"),
        language_name=LANGUAGE_NAMES.get(language, language) if isinstance(language, str) else None,
        repo_url=repo_url or project_url(), license=license, **_data_context(data, training_args, dataset_id),
        max_batch=max_batch, max_chars=max_chars, **_results_context(metrics, run_files, model_dir),
        int8_gate=int8_gate and dict(int8_gate, source_name=Path(int8_gate.get("source") or "?").name),
        config_table=_table(["field", "value"], sorted(model.config.to_dict().items())),
        training_table=_training_table(training_args or None, run_files.get("all_results.json")),
        vectors=_vectors_context(run_files.get("all_results.json") or {}),
    )
    card = ModelCard.from_template(card_data, template_path=str(model_card_template_path()), **context)
    # Optional sections leave runs of blank lines behind; the rendered Markdown needs at most one.
    return ModelCard(re.sub(r"\n{3,}", "\n\n", str(card)))


def _data_context(data, training_args, dataset_id):
    """What the card's data section says: prepare_data.py's record of the raw file (name, rows,
    word limit, split) when the run's splits came from it, the train texts' length in words, and
    whether the data is McIntire's fake_or_real_news (named by the raw file, the path or the id)."""
    source = data.get("data_source") or None
    names = [training_args.get("train_file"), data.get("dataset_name"), dataset_id,
             source and source.get("source_file")]
    return dict(data_source=source, train_words=data.get("train_words"),
                cite_mcintire=any("fake_or_real_news" in str(name) for name in names if name))


def _vectors_context(all_results):
    """Which pretrained vectors started the embedding and how many words came from them, or None."""
    source = all_results.get("pretrained_embeddings_source")
    if not isinstance(source, str):
        return None
    added = all_results.get("pretrained_embeddings_words_added")
    return dict(source=Path(source).name if Path(source).is_absolute() else source,
                words_added=f"{added:,}" if isinstance(added, int) else None,
                frozen=bool(all_results.get("pretrained_embeddings_frozen")))


def _results_context(metrics, run_files, model_dir):
    per_class = metrics.get("per_class") or {}
    names = metrics.get("label_names") or list(per_class)
    matrix = metrics.get("confusion_matrix")
    shown = [(name, metrics[key]) for key, _, _, name in MODEL_INDEX_METRICS if key in metrics]
    shown += [("Loss", metrics["loss"])] if isinstance(metrics.get("loss"), (int, float)) else []
    all_results = run_files.get("all_results.json") or {}
    metrics_json = run_files.get("metrics.json") or {}
    return dict(
        headline=", ".join(f"{name} {_fmt(value)}" for name, value in shown[:2]),
        results_table=_table(["metric", "value"], [(n, _fmt(v)) for n, v in shown]) if shown else None,
        per_class_table=_table(["label", "precision", "recall", "F1", "support"],
                               [(n, *(_fmt(per_class[n][k]) for k in ("precision", "recall", "f1", "support")))
                                for n in names if n in per_class]) if per_class else None,
        confusion_table=_table(["true \\ predicted", *names], [(n, *row) for n, row in zip(names, matrix)])
        if matrix and len(matrix) == len(names) else None,
        threshold=metrics.get("threshold") if len(names) == 2 else None,
        test_file=Path(metrics["test_file"]).name if isinstance(metrics.get("test_file"), str) else None,
        num_examples=metrics.get("num_examples"), num_unscored=metrics.get("num_unscored"),
        baseline=_baseline(all_results),
        run_table=_table(["key", "value"], [(k, _fmt(v)) for k, v in all_results.items()
                                           if isinstance(v, (int, float, str))]) if all_results else None,
        best_valid=_best_validation(metrics_json),
        loss_curve=(Path(model_dir) / "loss_curve.png").is_file(),
        confusion_png=(Path(model_dir) / "confusion_matrix.png").is_file(),
    )


def _baseline(all_results):
    """What the run's TF-IDF + LogisticRegression baseline scored (``all_results.json``), in words."""
    scores = [f"{what} accuracy {_fmt(all_results[key])}" for key, what in (
        ("baseline_test_accuracy", "test"), ("baseline_eval_accuracy", "validation"))
        if isinstance(all_results.get(key), (int, float))]
    return " and ".join(scores) or None


def _best_validation(metrics_json):
    losses, steps = metrics_json.get("valid_loss_list") or [], metrics_json.get("global_steps_list") or []
    if not losses or len(losses) != len(steps):
        return None
    best = min(range(len(losses)), key=losses.__getitem__)
    return {"loss": losses[best], "step": steps[best], "last_step": steps[-1]}


def _training_table(training_args, all_results=None):
    if not isinstance(training_args, dict):
        return None
    # `accelerate launch --mixed_precision` overrides --train_precision; all_results.json has what ran.
    ran = (all_results or {}).get("train_precision")
    rows = []
    for key in HYPERPARAMETERS:
        value = training_args.get(key)
        if key in ("model_name_or_path", "pretrained_embeddings") and isinstance(value, str):
            value = Path(value).name if Path(value).is_absolute() else value  # no home folder on a public card
        if key in ("freeze_embeddings", "vector_words", "vector_vocab_size") and training_args.get(
                "pretrained_embeddings") in (None, "none"):
            continue
        if key == "train_precision" and isinstance(ran, str) and ran != value:
            value = f"{ran} (from accelerate launch; --train_precision {value})"
        if isinstance(value, (int, float, str)) and value != "":
            rows.append((key, _fmt(value)))
    return _table(["setting", "value"], rows) if rows else None


def _fmt(value):
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"  # learning rates: 2e-05, not 0.0000
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:,.1f}"
    return str(value)


def _table(header, rows):
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)
