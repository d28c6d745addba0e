"""Deprecated alias of :mod:`modeling.training` (``train``, ``TrainingInterrupted``), removed in
``modeling.training.options.REMOVED_IN``: import ``from modeling.training import train``."""

import warnings

from .training import TrainingInterrupted, train  # noqa: F401
from .training.options import deprecation_message

# stacklevel 2 skips the import machinery's frames and names the module that imports this one.
warnings.warn(deprecation_message("modeling.trainer", "modeling.training"), DeprecationWarning, stacklevel=2)
