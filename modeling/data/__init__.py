"""The data wing: users' files in, cleaned splits and padded batches out.

``files`` opens what users bring (CSV/TSV shapes, encodings, headers, JSON lines, Parquet, text lines,
``datasets`` sources), ``labels`` names the classes and maps cells to ids, ``cleaning`` turns one
labelled file into clean rows (and reads texts to classify), ``splits`` makes a run's
train/validation/test splits (and ``prepare_data.py``'s files), ``batching`` encodes and batches,
``checks`` warns about train data that will train badly and says what it tells the model card,
``arguments`` holds the flags and ``argparse`` types the scripts share. Imports only the core.
"""

from .files import DataError
