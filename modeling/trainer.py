"""The old home of ``train``: ``from modeling.trainer import train`` keeps working (README before the
regrouping); new code imports ``from modeling.training import train``."""

from .training import TrainingInterrupted, train  # noqa: F401
