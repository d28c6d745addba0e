import io
import math
import os
import subprocess
import sys

import pytest
import torch

from modeling.training.optimization import (
    SCHEDULER_TYPES, check_precision_supported, create_optimizer, get_scheduler, resolve_train_precision,
    train_autocast,
)


def learning_rates(name, steps=10, warmup=0, lr=1.0):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])  # the rate the next optimizer step uses
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("name, warmup, expected", [
    ("constant", 4, [1.0] * 10),  # constant ignores warm-up, as in transformers
    ("constant_with_warmup", 4, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ("linear", 0, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]),
    ("linear", 2, [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]),
])
def test_schedules_step_by_step(name, warmup, expected):
    assert learning_rates(name, warmup=warmup) == pytest.approx(expected)


def test_cosine_falls_from_peak_to_zero_through_half():
    rates = learning_rates("cosine", steps=10, lr=2e-3)
    assert rates[0] == pytest.approx(2e-3) and rates[5] == pytest.approx(1e-3)
    assert rates[9] == pytest.approx(1e-3 * (1 + math.cos(0.9 * math.pi)))
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_steps_past_the_end_stay_at_zero():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_scheduler("linear", optimizer, num_training_steps=3)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="polynomial"), "unknown lr_scheduler_type 'polynomial'"),
    (dict(name="linear", num_training_steps=None), "the linear schedule needs num_training_steps"),
    (dict(name="cosine", num_warmup_steps=-1), "num_warmup_steps must be >= 0, got -1"),
])
def test_bad_arguments(kwargs, message):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    kwargs = {"num_training_steps": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        get_scheduler(kwargs.pop("name"), optimizer, **kwargs)


@pytest.mark.parametrize("name", SCHEDULER_TYPES)
def test_state_dict_is_weights_only_loadable_and_resumes(name):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=3, num_training_steps=10)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save(scheduler.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # no pickled function inside
    fresh_optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    fresh = get_scheduler(name, fresh_optimizer, num_warmup_steps=3, num_training_steps=10)
    fresh.load_state_dict(state)
    fresh_optimizer.load_state_dict(optimizer.state_dict())
    for _ in range(3):
        optimizer.step(), scheduler.step(), fresh_optimizer.step(), fresh.step()
        assert fresh_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_create_optimizer_is_fused_adam_or_adamw(weight_decay):
    torch.manual_seed(0)
    start = torch.randn(20, 10)
    ours = torch.nn.Parameter(start.clone())
    optimizer = create_optimizer([ours], 1e-2, weight_decay)
    # Adam's update when there is no weight decay; AdamW's decoupled decay otherwise.
    reference = torch.nn.Parameter(start.clone())
    loop = (torch.optim.AdamW([reference], lr=1e-2, weight_decay=weight_decay) if weight_decay
            else torch.optim.Adam([reference], lr=1e-2))
    for _ in range(10):
        grad = torch.randn(20, 10)
        ours.grad, reference.grad = grad.clone(), grad.clone()
        optimizer.step(), loop.step()
    assert torch.allclose(ours, reference, atol=1e-6)
    assert not torch.equal(ours, start)
    if tuple(map(int, torch.__version__.split(".")[:2])) >= (2, 4):  # a fused CPU kernel since 2.4
        assert optimizer.defaults["fused"]


def test_precision_defers_to_accelerate_launch_and_refuses_unknown_names():
    assert resolve_train_precision("fp32") == "fp32" and resolve_train_precision("bf16", "no") == "bf16"
    assert resolve_train_precision("fp32", "bf16") == "accelerate"
    assert resolve_train_precision("bf16", "fp16") == "accelerate"
    with pytest.raises(ValueError, match="unknown train precision 'fp16'"):
        resolve_train_precision("fp16")


def bf16_lstm_runs():
    lstm = torch.nn.LSTM(3, 2, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(2, 4, 3))[0].float().sum().backward()
    except RuntimeError:
        return False
    return True


def test_bf16_is_refused_in_one_line_where_the_cpu_has_no_bf16_lstm():
    """oneDNN runs the LSTM in bf16 only with AVX-512: elsewhere the check says so before training."""
    check_precision_supported("fp32", torch.device("cpu"))  # fp32 always runs
    if bf16_lstm_runs():
        check_precision_supported("bf16", torch.device("cpu"))
    else:
        with pytest.raises(ValueError, match="bf16 training needs an LSTM kernel this CPU lacks"):
            check_precision_supported("bf16", torch.device("cpu"))
    # SSE4.1 kernels (ONEDNN_MAX_CPU_ISA is read when oneDNN starts: a fresh process) have none.
    code = ("import torch; from modeling.training.optimization import check_precision_supported as c\n"
            "try: c('bf16', torch.device('cpu'))\nexcept ValueError as e: print('refused:', e)")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "SSE41"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("refused: bf16 training needs"), out.stderr[-2000:]


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp32", torch.float32)])
def test_train_autocast(precision, dtype):
    layer = torch.nn.Linear(4, 4)
    with train_autocast(precision, torch.device("cpu")):
        out = layer(torch.randn(2, 4))
    assert out.dtype == dtype
    assert layer(torch.randn(2, 4)).dtype == torch.float32  # only inside the context
