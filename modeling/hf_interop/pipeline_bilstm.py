"""transformers pipeline of the BiLSTM text classifier (remote code, ``trust_remote_code=True``).

Copied next to ``config.json`` by ``save_pretrained`` and named in its ``custom_pipelines``, so
``pipeline("text-classification", model=..., trust_remote_code=True)`` builds this class: the
standard text-classification pipeline, which refuses a text under the short-text rule the model was
trained with (``config.min_text_chars``) with a ``ValueError``, as the Endpoint handler and the demo
do, instead of labelling an empty text. Needs only ``transformers``. Do not edit the copy in a model
repository: it is generated from ``modeling/hf_interop/pipeline_bilstm.py``.
"""

from transformers import TextClassificationPipeline


class BiLSTMTextClassificationPipeline(TextClassificationPipeline):
    """``TextClassificationPipeline`` with the model's short-text rule."""

    def preprocess(self, inputs, **tokenizer_kwargs):
        min_chars = getattr(self.model.config, "min_text_chars", 5)
        if isinstance(inputs, str) and len(inputs.strip()) < min_chars:
            what = "empty" if min_chars <= 1 else f"shorter than {min_chars} characters"
            raise ValueError(f"the text {inputs[:40]!r} is {what}; this model was trained without such texts"
                             f" (min_text_chars {min_chars} in its config.json)")
        return super().preprocess(inputs, **tokenizer_kwargs)
