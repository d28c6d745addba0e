"""What every benchmark script shares: the project's defaults, the machine, JSON output, mean ± sd.

The defaults are read from the code at run time (``BiLSTMConfig()`` and ``scripts/train.py``'s
argument parser), never copied here, so a benchmark always measures what a user gets.
"""
from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_SCRIPT = REPO_ROOT / "scripts" / "train.py"
LIBRARIES = ("torch", "datasets", "tokenizers", "accelerate", "numpy", "pandas", "pyarrow",
             "scikit-learn", "fasttext-numpy2-wheel")


def train_script():
    """``scripts/train.py`` imported as a module (for ``parse_args`` and ``main``)."""
    spec = importlib.util.spec_from_file_location("bench_train_script", TRAIN_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_defaults() -> dict:
    """Every ``scripts/train.py`` flag at its default value (``--output_dir`` aside)."""
    args = vars(train_script().parse_args([]))
    return {k: v for k, v in args.items() if k not in ("output_dir", "hub_token")}


def model_defaults() -> dict:
    """``BiLSTMConfig()`` field values (the architecture a plain ``train.py`` run builds)."""
    from modeling import BiLSTMConfig

    return BiLSTMConfig().to_dict()


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def environment() -> dict:
    """Machine, library versions, date and load (timings on a busy machine are not comparable)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    import torch

    return {
        "date": datetime.date.today().isoformat(), "python": platform.python_version(),
        "platform": platform.platform(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "libraries": versions,
        "load_avg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "argv": sys.argv,
    }


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def mean_sd(values) -> tuple:
    """``(mean, sample standard deviation)``; the deviation is 0 for a single value."""
    values = list(values)
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def fmt_mean_sd(values, digits=4) -> str:
    """``"0.9123 ± 0.0040"`` (no ``±`` part for a single value)."""
    values = list(values)
    mean, sd = mean_sd(values)
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if len(values) > 1 else "")


def write_json(report: dict, output_dir, name: str) -> Path:
    """Write ``report`` to ``<output_dir>/<name>`` (``output_dir`` relative to the repo root)."""
    out_dir = Path(output_dir)
    out_dir = out_dir if out_dir.is_absolute() else REPO_ROOT / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path
