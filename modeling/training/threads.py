"""One thread policy for a training process, whoever launched it.

``accelerate launch`` sets ``OMP_NUM_THREADS=1`` for a run it does not know to be a CPU run (no
``--cpu``, no ``--num_cpu_threads_per_process``; ``accelerate/commands/launch.py``, 1.2 to 1.16),
while ``python scripts/train.py`` lets torch use one thread per physical core. Where oneDNN's
kernels split their sums by thread count (AVX2 machines, ``ONEDNN_MAX_CPU_ISA=AVX2`` here), the two
launches of one command with one seed then train different models: the same demo run stopped at
step 440 under one and 360 under the other. A single CPU process therefore uses one thread per
physical core under both, which is also the rule accelerate applies itself with ``--cpu``; a thread
count the user chose (``OMP_NUM_THREADS`` in the launcher's environment, or
``--num_cpu_threads_per_process``) is kept.
"""

import os
from pathlib import Path

import torch


def launcher_default_threads():
    """Whether ``OMP_NUM_THREADS=1`` in this process is ``accelerate launch``'s default rather than a
    user's choice: the parent is an ``accelerate launch`` whose own environment had no
    ``OMP_NUM_THREADS`` and whose command line did not set the thread count. ``False`` wherever this
    cannot be read (no ``/proc``): then nothing changes."""
    if os.environ.get("OMP_NUM_THREADS") != "1" or "ACCELERATE_DYNAMO_BACKEND" not in os.environ:
        return False  # not started by accelerate launch with its default (it always sets that variable)
    parent = Path("/proc") / str(os.getppid())
    try:
        command = (parent / "cmdline").read_bytes().split(b"\0")
        environment = (parent / "environ").read_bytes().split(b"\0")
    except OSError:
        return False
    # `accelerate launch ...` or `python -m accelerate.commands.launch ...`
    launched = any(part.endswith(b"accelerate") or part.startswith(b"accelerate.commands") for part in command[:3])
    chosen = any(part.startswith(b"--num_cpu_threads_per_process") for part in command) or any(
        item.startswith(b"OMP_NUM_THREADS=") for item in environment)
    return launched and not chosen


def physical_cores():
    """Physical CPU cores, as accelerate counts them for ``--cpu`` runs (psutil, which it depends on)."""
    try:
        import psutil
    except ImportError:
        return None
    return psutil.cpu_count(logical=False)


def align_threads(num_processes_on_node=1, on_cpu=True):
    """Give a single CPU training process one thread per physical core when the only thread setting
    is ``accelerate launch``'s default of 1 (see the module docstring). Returns the new count, or
    ``None`` when nothing changed."""
    if num_processes_on_node != 1 or not on_cpu or not launcher_default_threads():
        return None
    cores = physical_cores()
    if not cores or cores <= 1:
        return None
    torch.set_num_threads(cores)
    return cores
