"""The fine-tuning table of the model card and the report, read from results.json's ``finetune`` section.

Scores are means over the recorded seeds, in percent; the Delta column (card with ``--compare``) is in
percentage points against the other run's same revision kind (final/main, else most words seen).
"""

from __future__ import annotations

import html

from .compare import FINETUNE, eval_scores, headline, score_deltas
from .format import NOT_EVALUATED, fmt_delta, fmt_pct, fmt_value, table
from .run import Run


def _settings_line(tasks: dict) -> str:
    first = next(iter(tasks.values()))
    s = first.get("settings") or {}
    seeds = ", ".join(first.get("seeds") or {}) or NOT_EVALUATED
    epochs = sorted({str((t.get("settings") or {}).get("epochs")) for t in tasks.values()})
    return (f"Method: {first.get('method', 'strict')} (the official BabyLM fine-tuning); seeds {seeds}; epochs "
            f"{'/'.join(epochs)}; learning rate {fmt_value(s.get('learning_rate'))}; batch size "
            f"{fmt_value(s.get('batch_size'))}; sequence length {fmt_value(s.get('sequence_length'))}.")


def finetune_card_section(run: Run, compare: Run | None = None) -> str | None:
    """'## Fine-tuning evaluation' for the card, or None when the run was never fine-tuned."""
    head = headline(run.results, FINETUNE)
    if head is None:
        return None
    rev, res = head
    tasks = res.get("tasks") or {}
    ref = headline(compare.results, FINETUNE) if compare is not None else None
    deltas = score_deltas(eval_scores(run.results, FINETUNE), eval_scores(compare.results, FINETUNE)) if compare else {}
    header = ["Task", "Metric", "Score (%)", "Accuracy (%)", "F1 (%)", "MCC (%)", "Train", "Validation"]
    header += ["Delta (pp)"] if compare is not None else []
    rows = []
    for name, t in tasks.items():
        m = t.get("metrics") or {}
        row = [name, fmt_value(t.get("metric")), fmt_pct(t.get("score")),
               *(fmt_pct(m.get(k), "-") for k in ("accuracy", "f1", "mcc")),
               fmt_value(t.get("n_train")), fmt_value(t.get("n_valid"))]
        if compare is not None:
            row.append(fmt_delta(deltas.get(name)))
        rows.append(row)
    out = ["## Fine-tuning evaluation", "",
           f"Validation scores of revision `{rev}` fine-tuned on each task (`nestling finetune`); the score is the "
           "task's selection metric, best validation epoch, mean over seeds.",
           "", _settings_line(tasks) if tasks else ""]
    if compare is not None:
        out.append(f"Delta: percentage points against **{compare.name}** "
                   f"(revision `{ref[0] if ref else NOT_EVALUATED}`).")
    out += ["", table(header, rows) if rows else NOT_EVALUATED.capitalize() + "."]
    skipped = ((run.results or {}).get("finetune") or {}).get("skipped") or {}
    if skipped:
        out += ["", "Not fine-tuned: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()) + "."]
    return "\n".join(out)


def finetune_report_table(runs: list[Run], names: list[str]) -> str | None:
    """An HTML table, one row per run, one column per fine-tuned task (score %), or None."""
    heads = [headline(run.results, FINETUNE) for run in runs]
    tasks = list(dict.fromkeys(t for h in heads if h for t in h[1].get("tasks") or {}))
    if not tasks:
        return None
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in ["Run", "Revision"] + [f"{t} (%)" for t in tasks])
    body = ""
    for name, head in zip(names, heads):
        rev, res = head or (NOT_EVALUATED, {})
        values = [fmt_pct(((res.get("tasks") or {}).get(t) or {}).get("score")) for t in tasks]
        body += "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in [name, rev, *values]) + "</tr>\n"
    return f"<h2>Fine-tuning</h2>\n<table>\n<thead><tr>{cells}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"
