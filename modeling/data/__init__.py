"""The data wing: users' files in, cleaned splits and padded batches out.

``files`` reads what users bring (CSV shapes, encodings, headers, JSON lines, Parquet, ``datasets``
sources), ``labels`` names the classes, ``pipeline`` cleans (titletext, short texts, trimming) and
splits, ``preparation`` is ``prepare_data.py``'s recipe, ``batching`` encodes and batches, ``checks``
warns about data that will train badly. Imports only the core.
"""

from .files import DataError
