"""Learning-rate schedules named as in ``transformers.get_scheduler`` (without importing transformers)."""

import math

from torch.optim.lr_scheduler import LambdaLR

SCHEDULER_TYPES = ("linear", "cosine", "constant", "constant_with_warmup")


def get_scheduler(name, optimizer, num_warmup_steps=0, num_training_steps=None):
    """A ``LambdaLR`` that scales the optimizer's learning rate step by step.

    Args:
        name: ``linear`` (warm-up, then straight down to 0 at ``num_training_steps``), ``cosine``
            (warm-up, then half a cosine down to 0), ``constant`` (no warm-up, no decay) or
            ``constant_with_warmup``.
        optimizer: the optimizer whose learning rate is the peak.
        num_warmup_steps: steps of linear warm-up from 0 (ignored by ``constant``).
        num_training_steps: the last step of the decay (needed by ``linear`` and ``cosine``).

    The multiplier is a plain function (not a callable object), so the scheduler's
    ``state_dict`` holds numbers only and a checkpoint loads with ``weights_only=True``.
    """
    if name not in SCHEDULER_TYPES:
        raise ValueError(f"unknown lr_scheduler_type {name!r}; choose one of {', '.join(SCHEDULER_TYPES)}")
    if num_warmup_steps < 0:
        raise ValueError(f"num_warmup_steps must be >= 0, got {num_warmup_steps}")
    if name in ("linear", "cosine") and not num_training_steps:
        raise ValueError(f"the {name} schedule needs num_training_steps")
    warmup = 0 if name == "constant" else num_warmup_steps
    decay = {"linear": _linear, "cosine": _cosine}.get(name)

    def multiplier(step):
        if step < warmup:
            return (step + 1) / warmup  # never 0: the first step already learns
        if decay is None:
            return 1.0
        progress = (step - warmup) / max(1, num_training_steps - warmup)
        return decay(min(1.0, progress))

    return LambdaLR(optimizer, multiplier)


def _linear(progress):
    return 1.0 - progress


def _cosine(progress):
    return 0.5 * (1.0 + math.cos(math.pi * progress))
