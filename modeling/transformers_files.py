"""The files that let transformers load a saved model, written without importing transformers.

``save_pretrained`` (and the upload folder) add, next to ``config.json``, ``model.safetensors`` and
``tokenizer.json``:

- ``tokenizer_config.json``, hand-written: ``AutoTokenizer`` / ``PreTrainedTokenizerFast`` then load
  ``tokenizer.json`` with no custom code, pad with ``[PAD]`` and truncate at ``max_length`` (a config
  that transformers 5.x saves names ``TokenizersBackend``, which 4.x cannot load);
- ``configuration_bilstm.py``, ``modeling_bilstm.py`` and ``pipeline_bilstm.py`` (from
  ``modeling/hf_interop/``), the remote code that ``trust_remote_code=True`` runs (the pipeline
  applies the model's short-text rule);
- keys in ``config.json`` that transformers reads (``model_type``, ``architectures``, ``auto_map``,
  ``custom_pipelines``, ``id2label``/``label2id``, ``tokenizer_class``). The project's own
  ``from_pretrained`` ignores them: the config dataclass keeps only its own fields.

One ``model.safetensors`` serves both loaders.
"""

import json
import shutil
from pathlib import Path

from .source import CONFIG_FILE
from .tokenizer import PAD_TOKEN, UNK_TOKEN

TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CODE_FILES = ("configuration_bilstm.py", "modeling_bilstm.py", "pipeline_bilstm.py")
TRANSFORMERS_FILES = (TOKENIZER_CONFIG_FILE, *CODE_FILES)
MODEL_TYPE = "bilstm_text_classifier"  # the same string as configuration_bilstm.MODEL_TYPE
ARCHITECTURE = "BiLSTMForSequenceClassification"
TOKENIZER_CLASS = "PreTrainedTokenizerFast"
# The remote code lives in the package; the inference copy vendored into a Hub repo has no such folder.
_CODE_DIR = Path(__file__).resolve().parent / "hf_interop"


def transformers_config_keys(config, with_code=True):
    """The ``config.json`` keys transformers reads, for a :class:`~modeling.BiLSTMConfig`.

    ``auto_map`` (which points at the remote code) is left out when ``with_code`` is false.
    """
    keys = {
        "model_type": MODEL_TYPE,
        "architectures": [ARCHITECTURE],
        "id2label": {str(i): name for i, name in enumerate(config.label_names)},
        "label2id": {name: i for i, name in enumerate(config.label_names)},
        "problem_type": "single_label_classification",
        "tokenizer_class": TOKENIZER_CLASS,
    }
    if with_code:
        keys["auto_map"] = {
            "AutoConfig": "configuration_bilstm.BiLSTMConfig",
            "AutoModel": f"modeling_bilstm.{ARCHITECTURE}",
            "AutoModelForSequenceClassification": f"modeling_bilstm.{ARCHITECTURE}",
        }
        # pipeline("text-classification", trust_remote_code=True) builds this class (the model's
        # short-text rule); "pt" names the transformers auto class that loads the model.
        keys["custom_pipelines"] = {"text-classification": {
            "impl": "pipeline_bilstm.BiLSTMTextClassificationPipeline",
            "pt": ["AutoModelForSequenceClassification"], "tf": [], "type": "text"}}
    return keys


def tokenizer_config(config):
    """``tokenizer_config.json`` for our WordLevel ``tokenizer.json`` (loads in transformers 4.5x and 5.x)."""
    return {
        "tokenizer_class": TOKENIZER_CLASS,
        "pad_token": PAD_TOKEN,
        "unk_token": UNK_TOKEN,
        "model_max_length": config.max_length,
        "padding_side": "right",
        "truncation_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    }


def has_code():
    """Whether the remote-code sources are available (not in the vendored inference copy)."""
    return all((_CODE_DIR / name).is_file() for name in CODE_FILES)


def config_json(config):
    """The text of ``config.json``: the dataclass fields plus the transformers keys, sorted."""
    return json.dumps({**config.to_dict(), **transformers_config_keys(config, has_code())}, indent=2,
                      sort_keys=True) + "\n"


def write_transformers_files(folder, config, with_tokenizer=True):
    """Write ``config.json``, ``tokenizer_config.json`` (if ``with_tokenizer``) and the remote code
    into ``folder`` (a folder being built, e.g. a temporary one); return the names written."""
    folder = Path(folder)
    (folder / CONFIG_FILE).write_text(config_json(config), encoding="utf-8")
    written = [CONFIG_FILE]
    if with_tokenizer:
        text = json.dumps(tokenizer_config(config), indent=2) + "\n"
        (folder / TOKENIZER_CONFIG_FILE).write_text(text, encoding="utf-8")
        written.append(TOKENIZER_CONFIG_FILE)
    if has_code():
        for name in CODE_FILES:
            shutil.copyfile(_CODE_DIR / name, folder / name)
        written += CODE_FILES
    return written
