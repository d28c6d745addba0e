"""Benchmark building blocks (not part of the installed package).

Run the scripts as ``python bench/<name>.py``.  ``bench/datasets.py`` has the same module name as
Hugging Face ``datasets``, so each script that imports other modules first takes its own folder
off ``sys.path`` (putting the repo root there instead) and imports them as ``bench.<name>``.
"""
