"""A plot of the mixing probabilities pi over training, from metrics.jsonl records of kind "mix"."""

from __future__ import annotations

from pathlib import Path

from nestling.errors import UserError


def plot_pi(records: list[dict], path: str | Path, title: str | None = None, floor: float | None = None) -> Path:
    """Draw pi per language against the step (words seen on a top axis label when present); save a PNG.

    ``records`` may be every metrics record of a run: only ``{"kind": "mix", "step", "pi": {...}}`` are used.
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: runs on servers and in tests
    import matplotlib.pyplot as plt

    mix = [r for r in records if r.get("kind") == "mix" and isinstance(r.get("pi"), dict)]
    if not mix:
        raise UserError(f"no mixing records (kind 'mix') to plot for {path}")
    langs = list(mix[0]["pi"])
    steps = [r["step"] for r in mix]
    fig, ax = plt.subplots(figsize=(7, 4))
    for lang in langs:
        ax.plot(steps, [r["pi"].get(lang, float("nan")) for r in mix], label=lang, linewidth=1.8)
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle=":", linewidth=1, label=f"floor {floor}")
    ax.set_xlabel("step")
    ax.set_ylabel("sampling probability pi")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    ax.set_title(title or "language mixing over training")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
