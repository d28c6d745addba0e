"""Benchmarks against peers on real data (not part of the installed package, not run in CI).

Run the scripts from the repository root as ``python bench/<name>.py``; each inserts the repo
root on ``sys.path`` so it can import ``bench.*`` and ``modeling``. Settings and data:
``bench/bench_data.py``; results and commands: ``docs/BENCHMARKS.md``.
"""
