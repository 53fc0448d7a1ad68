"""Zero-shot minimal-pair evaluation, scored as the official BabyLM pipeline scores causal LMs.

Entry points for the CLI:
- `evaluate_model(model_dir, data_paths, ...) -> dict`: one model (or one revision of a run);
- `evaluate_run(run_dir, data_paths, revisions="all", ...) -> dict`: every checkpoint + final,
  with a learning curve (and a PNG plot when ``plot_path`` is given);
- `write_results(results, out_path)`: atomic JSON write (schema in `nestling.evaluation.results`);
- `format_table(results) -> str`: Markdown summary (or the learning-curve table of a run);
- `is_run_dir(path)`, `write_run_outputs(run_result, RUN/results.json)`: results + learning_curve.md/.png.
"""

import importlib

# name -> the module that defines it. Imported on first use (PEP 562), so light modules of this package
# (the CLI's choices come from multilingual and finetune.tasks) do not pull in torch.
_EXPORTS = {
    "evaluate_model": "evaluate", "sentence_logprobs": "evaluate",
    "format_learning_curve": "results", "format_table": "results", "write_results": "results",
    "evaluate_run": "runs", "is_run_dir": "runs", "list_revisions": "runs", "plot_learning_curve": "runs",
    "write_run_outputs": "runs",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
