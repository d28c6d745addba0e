"""The training wing: ``train()`` and everything a run needs (options, state and checkpoints, run
folder, reporting, optimizer and schedule, pretrained vectors, evaluation). Imports the core and the
data wing; the Hub wing only to push at the end of a run (``--push_to_hub``).

``train`` and ``TrainingInterrupted`` are loaded on first use (PEP 562), so that importing a small
module of the wing (``modeling.training.run_folder`` for predict.py's unfinished-run warning) does not
import the whole training stack — nor ``evaluate``, which ``python scripts/predict.py`` would find
as the scripts' own ``evaluate.py`` first on ``sys.path``.
"""

__all__ = ["TrainingInterrupted", "train"]


def __getattr__(name):
    if name in __all__:
        from . import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
