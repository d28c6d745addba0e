"""The flags and ``argparse`` types the scripts share: how to read a user's file (``--delimiter``,
``--column_names``, ``--label_names``, ``--min_text_chars``) and the range checks of batch sizes and
the threshold. Each type applies the library's own check (``modeling.config``), so a script refuses
exactly what the library refuses.
"""

import argparse

from ..config import check_batch_size, check_label_names, check_min_text_chars, check_threshold


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """``--help`` that ends each flag's text with its default, as ``ArgumentDefaultsHelpFormatter``,
    except where saying so adds nothing: a help text that already names its default ("(default: the
    file's header row)"), a default of ``None`` or ``False`` (a flag that is off), or a suppressed one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def label_names_arg(value):
    """``argparse`` type for ``--label_names``: comma-separated class names in id order."""
    names = [name.strip() for name in value.split(",")]
    try:
        check_label_names(names)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two or more distinct comma-separated names, got {value!r}") from None
    return names


DELIMITERS = {",": ",", "comma": ",", ";": ";", "semicolon": ";", "tab": "\t", "\\t": "\t", "\t": "\t",
              "|": "|", "pipe": "|"}


def delimiter_arg(value):
    """``argparse`` type for ``--delimiter``: one character, or its name (``tab``, ``semicolon``...)."""
    if value.lower() not in DELIMITERS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(map(repr, DELIMITERS))}, got {value!r}")
    return DELIMITERS[value.lower()]


def column_names_arg(value):
    """``argparse`` type for ``--column_names``: the comma-separated names of a headerless file's columns."""
    names = [name.strip() for name in value.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected distinct comma-separated column names, got {value!r}")
    return names


def add_reading_arguments(parser):
    """``--delimiter`` and ``--column_names``: how to read a CSV/TSV file, for every script that takes one."""
    parser.add_argument("--delimiter", type=delimiter_arg,
                        help="CSV delimiter: ',', ';', 'tab' or '|' (default: tab for .tsv, else sniffed from the"
                             " header row).")
    parser.add_argument("--column_names", type=column_names_arg,
                        help="For CSV/TSV files without a header row (e.g. LIAR's TSVs): the name of each column,"
                             " comma-separated, e.g. id,label,statement,... (default: the file's header row).")


def add_file_format_arguments(parser, label_names_help=None):
    """``--delimiter``, ``--column_names`` and ``--label_names``, shared by the scripts that read labelled
    files; ``label_names_help`` says what the names mean where it differs (evaluate_model.py)."""
    add_reading_arguments(parser)
    parser.add_argument("--label_names", type=label_names_arg,
                        help=label_names_help or "Class names in id order, e.g. REAL,FAKE (default: from the train"
                             " labels; REAL/FAKE as REAL=0, FAKE=1). Integer labels 0, 1, ... are read as ids into"
                             " these names.")


def checked_type(convert, check, expected):
    """An ``argparse`` type: ``convert`` the string, then apply the library's ``check`` (a ``ValueError``
    becomes argparse's usage error "expected <expected>, got '<value>'")."""

    def parse(value):
        try:
            number = convert(value)
            check(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}") from None
        return number

    return parse


# --min_text_chars, batch sizes (--batch_size, --per_device_*_batch_size) and --threshold.
min_text_chars_arg = checked_type(int, check_min_text_chars, "a whole number >= 1 (1: drop only empty texts)")
batch_size_arg = checked_type(int, check_batch_size, "a whole number >= 1")
threshold_arg = checked_type(float, check_threshold, "a probability in [0, 1]")


def add_min_text_chars_argument(parser, default, help):
    """``--min_text_chars``: the short-text rule (rows whose stripped text is shorter are dropped)."""
    parser.add_argument("--min_text_chars", type=min_text_chars_arg, default=default, help=help)
