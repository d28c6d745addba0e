"""What every script shares: bad input becomes one ``error: ...`` line, and logging is set up once."""

import functools
import logging
import os
import sys

import datasets

from modeling.source import CONFIG_FILE, resolve_source, warn_if_unfinished


def user_errors():
    """Exception types that mean bad input (a file, a column, a flag, the Hub), not a bug."""
    errors = [ValueError, OSError]
    hub = sys.modules.get("modeling.hub.upload")  # imported only by runs that push
    if hub is not None:
        errors.append(hub.HubError)
    return tuple(errors)


def exit_on_error(main):
    """Decorate a script's ``main(argv=None)``: bad input prints ``error: <message>`` to stderr and
    exits with status 1, without a traceback."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except user_errors() as err:
            # Under a distributed launch every process meets the same bad input: one line, from rank 0.
            if os.environ.get("RANK", "0") == "0":
                print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None
        except KeyboardInterrupt as err:  # Ctrl-C: one line (train.py's says what was kept), status 130
            print(str(err) or "interrupted", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapper


def setup_logging(is_main_process=True):
    """INFO logs with timestamps on stdout, as transformers' example scripts log, so that stderr
    carries the progress bars and the ``error:`` line; other processes of a distributed run keep
    only errors."""
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
                        datefmt="%m/%d/%Y %H:%M:%S", level=logging.INFO, handlers=[logging.StreamHandler(sys.stdout)])
    if is_main_process:
        datasets.logging.set_verbosity_warning()
    else:
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def load_model(name_or_path, revision=None, backend="torch"):
    """``from_pretrained`` for the scripts: a folder that is not a saved model, or a Hub id that
    cannot be fetched, becomes one ``ValueError`` line that names it. ``backend`` "onnx" or "auto"
    may return the onnxruntime classifier (``modeling.serving.load_for_inference``). A model whose
    training run did not finish (``run_status.json``) loads with a warning.

    ``name_or_path`` is resolved here, once (``modeling.source.resolve_source``: local first, the Hub
    asked once); a resolved ``ModelSource`` is used as it is. Every loader below takes the source."""
    from modeling.serving import load_for_inference

    source = resolve_source(name_or_path, revision=revision)  # a typo'd path or an unreachable Hub: one line
    try:
        model = load_for_inference(source, backend)
    except ImportError as err:
        raise ValueError(str(err)) from None
    except user_errors() as err:
        if source.is_local and not (source.folder / CONFIG_FILE).is_file():  # checked only on this error path
            raise ValueError(f"{source.folder}: no {CONFIG_FILE} in this folder; --model_name_or_path must be a"
                             " train.py output folder or a Hub repo id") from None
        message = " ".join(str(err).split())
        raise ValueError(message if message.startswith(str(name_or_path)) else
                         f"{name_or_path}: cannot load the model: {message}") from None
    warn_if_unfinished(source)
    return model


def close_process_group():
    """End the distributed process group, if any, as the PyTorch docs ask at the end of a distributed
    program: a process that exits with the gloo group alive can abort in its threads ("terminate called
    without an active exception")."""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
