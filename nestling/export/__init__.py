"""Export a run as a BabyLM-ready Hugging Face repository, push it, and report on runs.

- `export_run`: run folder -> Hub-layout folder that is a git repository, one branch per checkpoint.
- `push_repo`: that folder -> the Hub via huggingface_hub, resumable, with a dry-run plan.
- `render_model_card`: the README.md model card, every number from the run's files.
- `write_report`: report.html with PNG plots for one or several runs side by side.
- `write_comparison`: one table over runs and sweeps grouped by configuration (mean +/- 95% CI over seeds,
  Delta against a baseline at equal tokens and wall-clock), with plots; the card's Delta columns use its
  `score_deltas`.
"""

from .card import render_model_card
from .compare import write_comparison
from .push import push_repo
from .repo import export_run
from .report import write_report

__all__ = ["export_run", "push_repo", "render_model_card", "write_comparison", "write_report"]
