"""Comparing runs: `nestling compare RUNS_OR_SWEEPS... [--baseline RUN] --out DIR`, and the score deltas
the model card's Delta columns show (``export --compare``), one implementation for both.

Runs are grouped by configuration: the resolved recipe without the seed and without what does not change
training (logging, evaluation, the sweep around it, where the data was cached). Each group's row gives
parameters, tokens, wall-clock, tokens/s (tokens over the whole wall-clock, evaluation and checkpoints
included), the final validation loss (mean and per language), the final mixing probabilities pi and the
evaluation scores in results.json, as the mean over its runs (seeds) with a two-sided 95% t-interval
(n - 1 degrees of freedom, scipy; no interval for one run).

Delta against the baseline (``--baseline RUN``: that run's configuration, all its seeds among the runs):
the configuration's mean validation loss minus the baseline's, at equal tokens and at equal wall-clock.
The curves are the runs' validation records (metrics.jsonl), linearly interpolated, and read at the
shortest horizon among the configuration's and the baseline's runs, so a run that trained longer is not
credited with the extra. The interval is Welch's two-sample t-interval (``diff_ci``): both configurations'
seeds vary, and a Delta interval that held the baseline's mean fixed would be too narrow. Evaluation
scores get a Delta too (percentage points, same interval); ``score_deltas`` is the single-run form the
model card calls for its Delta columns.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nestling import run_folder as rf
from nestling.errors import UserError
from nestling.files import staging_folder

from .format import NOT_RECORDED, fmt_int, table
from .run import Run, load_run, revision_sort_key

CONFIDENCE = 0.95
ZERO_SHOT, FINETUNE = "zero_shot", "finetune"
# Zero-shot tasks whose score is not an accuracy (strict suite: WUG's rho, reading's R2 gains).
_NOT_ACCURACY = ("spearman", "delta_r2_pct")
# Recipe keys that do not make a configuration: the seed (what a group's runs differ in), where the data
# was cached (built-in data is cached per seed), logging, evaluation, fine-tuning and the sweep around a run.
_NOT_CONFIG = ("seed", "run.", "eval.", "finetune.", "sweep.", "data.dir", "checkpoints.keep_last",
               "checkpoints.state_every", "_")
TOKENS, TIME = "tokens", "wall_s"


# ---------------------------------------------------------------- scores and their deltas (the card's too)


def delta(value, reference) -> float | None:
    """``value - reference``; None when either is missing."""
    if not isinstance(value, (int, float)) or not isinstance(reference, (int, float)):
        return None
    return float(value) - float(reference)


def headline(results: dict | None, section: str | None = None) -> tuple[str, dict] | None:
    """The (revision, result) standing for the final model: ``final``/``main``, else the most words seen.

    ``section="finetune"`` reads results.json's fine-tuning section; a single model's result file (no
    revisions) stands for itself.
    """
    results = (results or {}).get(section) if section else results
    if not results:
        return None
    revisions = results.get("revisions")
    if revisions is None and "tasks" in results:
        return str(results.get("revision") or "final"), results
    revisions = revisions or {}
    for name in ("final", "main"):
        if name in revisions:
            return name, revisions[name]
    if not revisions:
        return None
    name = max(revisions, key=lambda r: (revisions[r].get("words_seen") or 0, revision_sort_key(r)))
    return name, revisions[name]


def eval_scores(results: dict | None, kind: str = ZERO_SHOT) -> dict[str, float]:
    """Per task, the score of the headline revision as a fraction: zero-shot macro accuracy, or the
    fine-tuning score (mean over its seeds)."""
    head = headline(results, FINETUNE if kind == FINETUNE else None)
    if head is None:
        return {}
    key = "score" if kind == FINETUNE else "macro_acc"
    return {name: float(t[key]) for name, t in (head[1].get("tasks") or {}).items()
            if isinstance(t.get(key), (int, float)) and (kind == FINETUNE or t.get("metric") not in _NOT_ACCURACY)}


def score_deltas(scores: dict[str, float], reference: dict[str, float]) -> dict[str, float | None]:
    """Per task of ``scores``: its score minus the reference's (None where the reference lacks the task)."""
    return {task: delta(value, reference.get(task)) for task, value in scores.items()}


# ---------------------------------------------------------------- one run


@dataclass
class Curve:
    """Validation loss against tokens and wall-clock (metrics.jsonl's val records)."""

    tokens: np.ndarray
    wall_s: np.ndarray
    loss: np.ndarray

    def end(self, axis: str) -> float | None:
        xs = getattr(self, axis)
        return float(xs[-1]) if len(xs) else None

    def at(self, axis: str, x: float) -> float | None:
        """The loss at ``x`` tokens or seconds, linearly interpolated; None outside the recorded range."""
        xs = getattr(self, axis)
        if not len(xs) or x < xs[0] * (1 - 1e-9) or x > xs[-1] * (1 + 1e-9):
            return None
        return float(np.interp(x, xs, self.loss))


def _curve(run: Run) -> Curve:
    val = [r for r in run.records("val") if isinstance(r.get("val_loss"), (int, float))]
    train = [(0.0, 0.0)] + [(r["step"], r["wall_s"]) for r in run.records("train") if "wall_s" in r]
    steps, walls = zip(*train)
    # Val records written before they carried wall_s: the clock at their step, from the train records.
    wall = [r.get("wall_s", float(np.interp(r["step"], steps, walls))) for r in val]
    return Curve(np.array([float(r["tokens"]) for r in val]), np.array(wall, dtype=float),
                 np.array([float(r["val_loss"]) for r in val]))


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in (tree or {}).items():
        if isinstance(value, dict) and key not in ("sources", "probs", "grid"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@dataclass
class RunFacts:
    """What the table reads from one finished run."""

    run: Run
    config: dict  # the flattened recipe without the keys that do not make a configuration
    sweep_config: dict | None  # the grid values, when the run belongs to a sweep
    curve: Curve
    values: dict = field(default_factory=dict)  # column -> number (None when not recorded)

    @property
    def key(self) -> str:
        return json.dumps(self.config, sort_keys=True, default=str)


def _facts(run: Run, sweep_config: dict | None) -> RunFacts:
    s = run.summary or {}
    config = {k: v for k, v in _flat(run.recipe or {}).items() if not k.startswith(_NOT_CONFIG)}
    curve = _curve(run)
    last_val = (run.records("val") or [{}])[-1]
    tokens, wall = s.get("tokens_seen"), s.get("wall_clock_s")
    values = {"Params": s.get("params"), "Tokens": tokens, "Wall-clock (s)": wall,
              "Tokens/s": tokens / wall if tokens and wall else None, "Val loss": s.get("final_val_loss")}
    lang_loss = last_val.get("val_lang_loss") or {}
    if len(lang_loss) > 1:  # one language: its loss is the mean already shown
        values.update({f"Val loss {lang}": x for lang, x in lang_loss.items()})
    final_pi = (s.get("mixing") or {}).get("final_pi") or {}
    if len(final_pi) > 1:
        values.update({f"pi {lang}": p for lang, p in final_pi.items()})
    values.update({f"{t} (%)": 100 * x for t, x in eval_scores(run.results).items()})
    values.update({f"{t} fine-tuned (%)": 100 * x for t, x in eval_scores(run.results, FINETUNE).items()})
    return RunFacts(run, config, sweep_config, curve, values)


# ---------------------------------------------------------------- gathering runs


def _sweep_configs(sweep_dir: Path) -> dict[Path, dict]:
    manifest = rf.read_manifest(sweep_dir) or {}
    return {(sweep_dir / r["folder"]).resolve(): r.get("config") or {} for r in manifest.get("runs", [])
            if r.get("folder")}


def gather_runs(paths: list[Path]) -> list[tuple[Path, dict | None]]:
    """Run folders from run and sweep folders, each with its grid values when it belongs to a sweep."""
    found: dict[Path, dict | None] = {}
    for path in map(Path, paths):
        if rf.is_sweep_dir(path):
            configs = _sweep_configs(path)
            for folder in rf.sweep_run_dirs(path):
                found.setdefault(folder.resolve(), configs.get(folder.resolve()))
        elif (path / rf.SUMMARY).is_file() or (path / rf.METRICS).is_file():
            parent = path.resolve().parent
            found.setdefault(path.resolve(), _sweep_configs(parent).get(path.resolve()) if rf.is_sweep_dir(parent) else None)
        else:
            raise UserError(f"{path}: not a run folder (no summary.json or metrics.jsonl) nor a sweep folder "
                            "(no manifest.json)")
    if not found:
        raise UserError("compare: the sweep folders hold no runs yet")
    return list(found.items())


# ---------------------------------------------------------------- statistics


def mean_ci(values: list) -> tuple[float | None, float | None, int]:
    """(mean, half-width of the two-sided CONFIDENCE t-interval, n) over the numbers in ``values``."""
    xs = _finite(values)
    if not xs:
        return None, None, 0
    mean = float(np.mean(xs))
    if len(xs) < 2:
        return mean, None, 1
    from scipy.stats import t

    half = float(t.ppf((1 + CONFIDENCE) / 2, len(xs) - 1) * np.std(xs, ddof=1) / math.sqrt(len(xs)))
    return mean, half, len(xs)


def diff_ci(values: list, reference: list) -> tuple[float | None, float | None, int]:
    """(mean(values) - mean(reference), half-width of the two-sided CONFIDENCE interval, n of ``values``).

    Welch's t-interval when both sides have two or more numbers (unequal variances, Welch-Satterthwaite
    degrees of freedom; statsmodels); with one reference number, the one-sample t-interval of ``values``
    around it; no interval for a single value.
    """
    xs, ys = (_finite(v) for v in (values, reference))
    if not xs or not ys:
        return None, None, len(xs)
    diff = float(np.mean(xs) - np.mean(ys))
    if len(xs) < 2:
        return diff, None, 1
    if len(ys) < 2:
        return diff, mean_ci(xs)[1], len(xs)
    if np.var(xs) == 0 and np.var(ys) == 0:  # the interval is NaN (0/0 degrees of freedom) when both are exact
        return diff, 0.0, len(xs)
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    low, high = CompareMeans(DescrStatsW(xs), DescrStatsW(ys)).tconfint_diff(alpha=1 - CONFIDENCE, usevar="unequal")
    return diff, float(high - low) / 2, len(xs)


def _finite(values: list) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _losses_at_common_horizon(group: list[RunFacts], baseline: list[RunFacts], axis: str) -> tuple[list, list]:
    """Each run's and each baseline run's loss at the shortest horizon among them on ``axis``."""
    ends = [f.curve.end(axis) for f in [*group, *baseline]]
    if any(e is None for e in ends):
        return [], []
    x = min(ends)
    return [f.curve.at(axis, x) for f in group], [f.curve.at(axis, x) for f in baseline]


# ---------------------------------------------------------------- the comparison


@dataclass
class Group:
    label: str
    runs: list[RunFacts]
    stats: dict = field(default_factory=dict)  # column -> (mean, half, n)
    is_baseline: bool = False


def _config_text(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).removesuffix("...\n").strip()


def _labels(groups: list[list[RunFacts]]) -> list[str]:
    """A sweep's grid values when the runs have them, else the recipe keys that differ from the other
    groups of the same recipe name; the recipe name in front when several recipes are compared."""
    names = [str(g[0].config.get("name", "run")) for g in groups]
    several = len(set(names)) > 1
    labels = []
    for name, group in zip(names, groups):
        config = group[0].sweep_config
        if config is None:
            same_name = [g[0].config for n, g in zip(names, groups) if n == name]
            keys = sorted({k for c in same_name for k in c if any(c.get(k) != o.get(k) for o in same_name)})
            config = {k: group[0].config.get(k) for k in keys}
        text = ", ".join(f"{k}={_config_text(v)}" for k, v in config.items())
        labels.append(f"{name}: {text}" if several and text else text or name)
    return labels


def compare_runs(paths: list[Path], baseline: Path | None = None) -> tuple[list[Group], list[Path]]:
    """Group the finished runs by configuration and compute each column's mean and interval; return the
    groups and the folders left out (not finished)."""
    gathered = gather_runs(paths)
    if baseline is not None:
        baseline = Path(baseline)
        if not ((baseline / rf.SUMMARY).is_file() or (baseline / rf.METRICS).is_file()):
            raise UserError(f"--baseline {baseline}: not a run folder (no summary.json or metrics.jsonl)")
        if baseline.resolve() not in dict(gathered):
            gathered += gather_runs([baseline])
    facts, unfinished = [], []
    for path, sweep_config in gathered:
        run = load_run(path)
        if not (run.summary or {}).get("finished"):
            unfinished.append(path)
            continue
        facts.append(_facts(run, sweep_config))
    if not facts:
        raise UserError("compare: no finished run among the folders given")
    by_key: dict[str, list[RunFacts]] = {}
    for f in facts:
        by_key.setdefault(f.key, []).append(f)
    runs_of = list(by_key.values())
    groups = [Group(label, runs) for label, runs in zip(_labels(runs_of), runs_of)]
    base = None
    if baseline is not None:
        match = [g for g in groups if any(f.run.path.resolve() == baseline.resolve() for f in g.runs)]
        if not match:
            raise UserError(f"--baseline {baseline}: the run is not finished")
        base = match[0]
        base.is_baseline = True
    # The baseline first: the others' score deltas are taken against its means.
    for g in sorted(groups, key=lambda g: not g.is_baseline):
        _group_stats(g, base)
    return groups, unfinished


def _group_stats(group: Group, base: Group | None) -> None:
    columns = list(dict.fromkeys(c for f in group.runs for c in f.values))
    group.stats = {c: mean_ci([f.values.get(c) for f in group.runs]) for c in columns}
    if base is None:
        return
    for axis, column in ((TOKENS, "Delta loss, equal tokens"), (TIME, "Delta loss, equal wall-clock")):
        group.stats[column] = diff_ci(*_losses_at_common_horizon(group.runs, base.runs, axis))
    for c in [c for c in group.stats if c.endswith("(%)") and c in base.stats]:
        group.stats[f"Delta {c[:-4]} (pp)"] = diff_ci([f.values.get(c) for f in group.runs],
                                                      [f.values.get(c) for f in base.runs])


# ---------------------------------------------------------------- writing


_DIGITS = {"Params": 0, "Tokens": 0, "Wall-clock (s)": 1, "Tokens/s": 0}


def _cell(column: str, stat: tuple | None, is_baseline: bool) -> str:
    if column.startswith("Delta") and is_baseline:
        return "baseline"
    mean, half, n = stat or (None, None, 0)
    if mean is None:
        return NOT_RECORDED
    digits = _DIGITS.get(column, 3 if column.startswith("pi ") else 2 if column.endswith(("(%)", "(pp)")) else 4)
    sign = "+" if column.startswith("Delta") else ""
    text = fmt_int(mean) if digits == 0 else f"{mean:{sign}.{digits}f}"
    if half is not None:
        text += f" ± {half:,.{digits}f}" if digits else f" ± {round(half):,}"
    return text


def _columns(groups: list[Group]) -> list[str]:
    order = ["Params", "Tokens", "Wall-clock (s)", "Tokens/s", "Val loss"]
    seen = list(dict.fromkeys(c for g in groups for c in g.stats))
    rest = [c for c in seen if c not in order]
    ranked = sorted(rest, key=lambda c: (0 if c.startswith("Val loss") else 1 if c.startswith("Delta loss") else
                                         2 if c.startswith("pi ") else 3 if c.endswith("(%)") else 4))
    return [c for c in order if c in seen] + ranked


def _rows(groups: list[Group]) -> tuple[list[str], list[list[str]]]:
    columns = _columns(groups)
    header = ["Configuration", "Runs"] + columns
    rows = [[g.label + (" (baseline)" if g.is_baseline else ""), str(len(g.runs))]
            + [_cell(c, g.stats.get(c), g.is_baseline) for c in columns] for g in groups]
    return header, rows


def _notes(baseline: Path | None) -> list[str]:
    notes = [f"Mean ± half-width of the two-sided {CONFIDENCE:.0%} t-interval over a configuration's runs (seeds); "
             "no interval for a single run. Tokens/s: tokens over the whole wall-clock (evaluation and "
             "checkpoints included). Validation loss in nats per token."]
    if baseline is not None:
        notes.append(f"Delta loss: the configuration's mean validation loss minus the baseline's (`{baseline}` and "
                     "its configuration's other seeds), interpolated from metrics.jsonl at equal tokens or equal "
                     "wall-clock, at the shortest horizon among both configurations' runs; Delta of a score: "
                     "percentage points. Delta intervals: Welch's two-sample t-interval (both sides' seeds vary); "
                     "the one-sample interval when the baseline has a single run.")
    return notes


def _plot(groups: list[Group], axis: str, path: Path) -> bool:
    from .report import colors, figure

    fig, (ax,) = figure(1)
    drawn = False
    for g, color in zip(groups, colors(len(groups))):
        end = min((f.curve.end(axis) or 0) for f in g.runs)
        xs = [x for x in getattr(g.runs[0].curve, axis) if x <= end * (1 + 1e-9)]
        if not xs:
            continue
        stats = [mean_ci([f.curve.at(axis, x) for f in g.runs]) for x in xs]
        means = np.array([m for m, _, _ in stats], dtype=float)
        ax.plot(xs, means, color=color, marker="o", markersize=3, label=g.label)
        halves = np.array([h if h is not None else 0.0 for _, h, _ in stats])
        if halves.any():
            ax.fill_between(xs, means - halves, means + halves, color=color, alpha=0.2)
        drawn = True
    ax.set(xlabel="tokens seen" if axis == TOKENS else "wall-clock (s)", ylabel="validation loss (nats/token)",
           title="Validation loss vs " + ("tokens" if axis == TOKENS else "wall-clock"))
    if drawn:
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
        fig.savefig(path, dpi=100)
    return drawn


_PLOTS = (("loss_vs_tokens.png", TOKENS), ("loss_vs_time.png", TIME))


def _markdown(header, rows, groups, unfinished, notes, plots) -> str:
    out = ["# Comparison", "", table(header, rows), "", *[f"- {n}" for n in notes], "", "## Runs", ""]
    out += [f"- {g.label}: " + ", ".join(f"`{f.run.path}`" for f in g.runs) for g in groups]
    if unfinished:
        out += ["", "Not included (not finished): " + ", ".join(f"`{p}`" for p in unfinished)]
    out += [""] + [f"![{file}]({file})" for file in plots]
    return "\n".join(out) + "\n"


def _html(header, rows, groups, unfinished, notes, plots) -> str:
    from .report import STYLE

    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>\n" for row in rows)
    runs = "".join(f"<li>{esc(g.label)}: " + ", ".join(f"<code>{esc(str(f.run.path))}</code>" for f in g.runs)
                   + "</li>\n" for g in groups)
    parts = ["<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>nestling comparison</title>\n"
             f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>Comparison</h1>\n",
             f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n",
             "<ul>\n" + "".join(f"<li>{esc(n)}</li>\n" for n in notes) + "</ul>\n<h2>Runs</h2>\n<ul>\n" + runs + "</ul>\n"]
    if unfinished:
        parts.append("<p>Not included (not finished): " + ", ".join(esc(str(p)) for p in unfinished) + "</p>\n")
    parts += [f"<figure><img src=\"{f}\" alt=\"{esc(f)}\"></figure>\n" for f in plots]
    return "".join(parts) + "</body>\n</html>\n"


def _json(groups: list[Group], unfinished: list[Path], baseline: Path | None) -> str:
    data = {"confidence": CONFIDENCE, "baseline": str(baseline) if baseline else None,
            "unfinished": [str(p) for p in unfinished],
            "groups": [{"label": g.label, "baseline": g.is_baseline, "runs": [str(f.run.path) for f in g.runs],
                        "seeds": [(f.run.summary or {}).get("seed") for f in g.runs],
                        "columns": {c: {"mean": m, "ci": h, "n": n} for c, (m, h, n) in g.stats.items()},
                        "values": [f.values for f in g.runs]} for g in groups]}
    return json.dumps(data, indent=2) + "\n"


def write_comparison(paths: list[Path], out_dir: Path, baseline: Path | None = None) -> Path:
    """Write ``out_dir/compare.md`` (+ compare.html, compare.json, loss_vs_tokens.png, loss_vs_time.png);
    return the Markdown file. Files are drawn in a temporary folder and moved in at the end."""
    groups, unfinished = compare_runs(paths, baseline)
    out = Path(out_dir)
    with staging_folder(out, "compare") as tmp:
        plots = [file for file, axis in _PLOTS if _plot(groups, axis, tmp / file)]
        header, rows = _rows(groups)
        notes = _notes(baseline)
        (tmp / "compare.json").write_text(_json(groups, unfinished, baseline), encoding="utf-8")
        (tmp / "compare.html").write_text(_html(header, rows, groups, unfinished, notes, plots), encoding="utf-8")
        (tmp / "compare.md").write_text(_markdown(header, rows, groups, unfinished, notes, plots), encoding="utf-8")
        # Plots first, the pages last: a reader never sees a page pointing at a missing image.
        for file in plots + ["compare.json", "compare.html", "compare.md"]:
            os.replace(tmp / file, out / file)
    return out / "compare.md"
