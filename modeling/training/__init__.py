"""The training wing: ``train()`` and everything a run needs (options, state and checkpoints, run
folder, reporting, optimizer and schedule, pretrained vectors, evaluation). Imports the core and the
data wing; the Hub wing only to push at the end of a run (``--push_to_hub``).
"""

from .loop import TrainingInterrupted
from .recipe import train

__all__ = ["TrainingInterrupted", "train"]
