"""Zero-shot minimal-pair evaluation, scored as the official BabyLM pipeline scores causal LMs.

Entry points for the CLI:
- `evaluate_model(model_dir, data_paths, ...) -> dict`: one model (or one revision of a run);
- `evaluate_run(run_dir, data_paths, revisions="all", ...) -> dict`: every checkpoint + final,
  with a learning curve (and a PNG plot when ``plot_path`` is given);
- `write_results(results, out_path)`: atomic JSON write (schema in `nestling.evaluation.results`);
- `format_table(results) -> str`: Markdown summary (or the learning-curve table of a run);
- `is_run_dir(path)`, `write_run_outputs(run_result, RUN/results.json)`: results + learning_curve.md/.png.
"""

from nestling.evaluation.evaluate import evaluate_model, sentence_logprobs
from nestling.evaluation.results import format_learning_curve, format_table, write_results
from nestling.evaluation.runs import (evaluate_run, is_run_dir, list_revisions, plot_learning_curve,
                                      write_run_outputs)

__all__ = ["evaluate_model", "evaluate_run", "write_results", "format_table", "format_learning_curve",
           "plot_learning_curve", "list_revisions", "is_run_dir", "write_run_outputs", "sentence_logprobs"]
