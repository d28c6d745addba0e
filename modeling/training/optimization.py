"""The optimizer, the learning-rate schedule (named as in ``transformers.get_scheduler``, without
importing transformers) and the precision of the training steps."""

import contextlib
import math

import torch
from torch.optim.lr_scheduler import LambdaLR

SCHEDULER_TYPES = ("linear", "cosine", "constant", "constant_with_warmup")


def create_optimizer(parameters, learning_rate, weight_decay=0.0):
    """AdamW (plain Adam when ``weight_decay`` is 0), fused into one kernel where torch has one
    (torch >= 2.4 on CPU, CUDA, MPS): the same update up to float rounding, without the per-parameter
    loop that costs a sizeable share of a CPU step (docs/BENCHMARKS.md, section 5)."""
    parameters = list(parameters)
    try:
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # older torch, or a device without a fused kernel
        return torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay)


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


PRECISION_CHOICES = ("fp32", "bf16")


def resolve_train_precision(choice, accelerate_mixed_precision="no"):
    """What the training steps run in: ``"fp32"``, ``"bf16"`` (autocast around forward and loss),
    or ``"accelerate"`` when ``accelerate launch --mixed_precision`` already autocasts the model.

    fp32 is the default: bf16's speed-up did not show in full runs on CPU and accuracy was the same
    (docs/BENCHMARKS.md, section 5).
    """
    if choice not in PRECISION_CHOICES:
        raise ValueError(f"unknown train precision {choice!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if accelerate_mixed_precision not in (None, "no"):
        return "accelerate"
    return choice


def check_precision_supported(precision, device):
    """Raise ``ValueError`` when ``device`` cannot run the LSTM in bf16 (``precision`` "bf16").

    oneDNN's CPU LSTM has bf16 kernels only from AVX-512 on: with ``ONEDNN_MAX_CPU_ISA=AVX2`` or
    ``SSE41`` (as on most laptops) the first bf16 step fails with "could not create a primitive
    descriptor for the LSTM forward propagation primitive". A one-step probe finds out before any
    data is read.
    """
    if precision != "bf16" or device.type != "cpu":
        return
    lstm = torch.nn.LSTM(2, 2, batch_first=True, bidirectional=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            output, _ = lstm(torch.zeros(1, 2, 2))
        output.float().sum().backward()
    except RuntimeError:
        raise ValueError("bf16 training needs an LSTM kernel this CPU lacks (oneDNN runs the LSTM in bf16 only"
                         " with AVX-512): use --train_precision fp32 (the default) or mixed precision no") from None


def train_autocast(precision, device):
    """The context manager for one training forward: bf16 autocast, or nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
