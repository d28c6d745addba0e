"""Training plots written as PNG files: loss curves and the confusion matrix.

Figures are built from ``matplotlib.figure.Figure`` rather than ``pyplot``: no global figure
registry to leak memory in long runs, and no GUI backend to select on a headless machine
(``Figure.savefig`` renders PNG with Agg whatever backend is configured).
"""

import numpy as np
from matplotlib.figure import Figure

from modeling.utils import atomic_path

DPI = 120


def _save_png(fig, path):
    """Write ``fig`` to ``path`` as PNG atomically, so a crash never leaves a truncated image."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def plot_loss_curve(train_steps, train_losses, valid_steps, valid_losses, path, title=None):
    """Plot training and validation loss against the global step and mark the best validation loss.

    Args:
        train_steps: Global steps at which training losses were logged.
        train_losses: Training losses, one per entry of ``train_steps``.
        valid_steps: Global steps at which the model was evaluated (may be empty).
        valid_losses: Validation losses, one per entry of ``valid_steps``.
        path: Destination PNG file.
        title: Figure title; defaults to "Training and validation loss".
    """
    if len(train_steps) != len(train_losses) or len(valid_steps) != len(valid_losses):
        raise ValueError("Each steps list must have one entry per loss value.")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(train_steps, train_losses, label="train", color="tab:blue", alpha=0.8)
    if len(valid_losses):
        ax.plot(valid_steps, valid_losses, label="validation", color="tab:orange", marker="o", ms=4)
        best = int(np.argmin(valid_losses))
        best_step, best_loss = valid_steps[best], valid_losses[best]
        ax.scatter([best_step], [best_loss], s=140, marker="*", color="tab:red", zorder=3,
                   label=f"best validation ({best_loss:.4f} @ step {best_step})")
    ax.set_xlabel("Global step")
    ax.set_ylabel("Loss")
    ax.set_title(title or "Training and validation loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    _save_png(fig, path)


def plot_confusion_matrix(confusion_matrix, label_names, path, title=None):
    """Draw the confusion matrix as a heatmap with the count written in each cell.

    Args:
        confusion_matrix: Square counts, rows = true label, columns = predicted label.
        label_names: One name per row/column.
        path: Destination PNG file.
        title: Figure title; defaults to "Confusion matrix".
    """
    cm = np.asarray(confusion_matrix)
    if cm.ndim != 2 or cm.shape != (len(label_names), len(label_names)):
        raise ValueError(f"Confusion matrix of shape {cm.shape} does not fit {len(label_names)} labels.")
    n = len(label_names)
    side = max(4.0, 1.0 + 0.6 * n)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax)
    ticks = np.arange(n)
    ax.set_xticks(ticks, labels=label_names, rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(ticks, labels=label_names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title or "Confusion matrix")
    # White text on dark cells, black on light ones, so every count stays readable.
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if cm[i, j] > threshold else "black"
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", color=color)
    _save_png(fig, path)
