"""Run report: ``report.html`` with PNG plots, one run or several overlaid (legend = run name).

Plots: training and validation loss vs words seen, per-language loss, mixing weights pi over training,
mixing rewards, learning rate, and zero-shot accuracy vs revision. A plot no run has data for is
listed as "not recorded" rather than drawn empty. Figures use matplotlib's object API with the Agg
canvas, so no display and no global pyplot state are involved.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from nestling.errors import UserError
from nestling.files import staging_folder

from .card import suite_score
from .compare import headline
from .format import NOT_EVALUATED, NOT_RECORDED, fmt_duration, fmt_float, fmt_int, fmt_pct
from .run import Run, load_run


def _smooth(ys: list[float]) -> list[float]:
    """Exponential moving average with bias correction, as TensorBoard draws its smoothed lines.

    Logged points are already window means, so a short series (< 50 points) is drawn as is; longer
    ones average over ~len/10 points, at most ~100.
    """
    if len(ys) < 50:
        return list(ys)
    alpha = max(0.01, 10 / len(ys))
    out, avg = [], 0.0
    for i, y in enumerate(ys, 1):
        avg = (1 - alpha) * avg + alpha * y
        out.append(avg / (1 - (1 - alpha) ** i))
    return out


def _series(records: list[dict], key: str, sub: str | None = None) -> tuple[list[float], list[float]]:
    """(words, value) pairs of ``record[key]`` (or ``record[key][sub]``) where both are numbers."""
    xs, ys = [], []
    for r in records:
        v = r.get(key)
        v = v.get(sub) if sub is not None and isinstance(v, dict) else (None if sub is not None else v)
        x = r.get("words")
        if isinstance(v, (int, float)) and isinstance(x, (int, float)):
            xs.append(x)
            ys.append(v)
    return xs, ys


def _keys(runs: list[Run], kind: str, field: str) -> list[str]:
    """Union, in first-seen order, of the dict keys of ``field`` in records of ``kind`` (e.g. languages)."""
    seen: dict[str, None] = {}
    for run in runs:
        for r in run.records(kind):
            if isinstance(r.get(field), dict):
                seen.update(dict.fromkeys(r[field]))
    return list(seen)


def figure(n_panels: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(n_panels, 3)
    rows = (n_panels + cols - 1) // cols
    width, height = 5.0 * cols, 3.6 * rows
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    # Fixed margins in inches: a layout engine (constrained/tight) doubles the drawing time.
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.55 / height, top=1 - 0.4 / height,
                        wspace=0.3, hspace=0.45)
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n_panels)]


def colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _plot_loss(runs, names, colors, ax) -> bool:
    drawn = False
    for run, name, c in zip(runs, names, colors):
        xs, ys = _series(run.records("train"), "loss")
        if xs:
            ax.plot(xs, ys, color=c, alpha=0.25, linewidth=0.8)
            ax.plot(xs, _smooth(ys), color=c, label=f"{name} train")
        vx, vy = _series(run.records("val"), "val_loss")
        if vx:
            ax.plot(vx, vy, color=c, linestyle="--", marker="o", markersize=3, label=f"{name} val")
        drawn |= bool(xs or vx)
    ax.set(title="Loss", xlabel="words seen", ylabel="cross-entropy (nats/token)")
    return drawn


def _plot_per_key(runs, names, colors, kind, field, ax, val_field=None, ylabel="") -> bool:
    """One panel's lines: ``record[field][key]`` for each run (dashed ``val_field`` from val records)."""
    drawn = False
    key = ax.get_title()
    for run, name, c in zip(runs, names, colors):
        xs, ys = _series(run.records(kind), field, key)
        if xs:
            smooth = _smooth(ys) if field == "lang_loss" else ys
            ax.plot(xs, smooth, color=c, label=f"{name}" + (" train" if val_field else ""),
                    marker=None if kind == "train" else ".", markersize=3)
        if val_field:
            vx, vy = _series(run.records("val"), val_field, key)
            if vx:
                ax.plot(vx, vy, color=c, linestyle="--", marker="o", markersize=3, label=f"{name} val")
            drawn |= bool(vx)
        drawn |= bool(xs)
    ax.set(xlabel="words seen", ylabel=ylabel)
    return drawn


def _eval_curves(run: Run) -> list[dict]:
    results = run.results or {}
    curve = results.get("learning_curve")
    if curve:
        return curve
    return [{"revision": rev, "words_seen": r.get("words_seen"),
             **{t: v.get("macro_acc") for t, v in (r.get("tasks") or {}).items()}}
            for rev, r in (results.get("revisions") or {}).items()]


def _plot_eval(runs, names, colors, ax) -> bool:
    task = ax.get_title()
    drawn = False
    for run, name, c in zip(runs, names, colors):
        pts = sorted((r["words_seen"], 100 * r[task]) for r in _eval_curves(run)
                     if isinstance(r.get(task), (int, float)) and isinstance(r.get("words_seen"), (int, float)))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=c, marker="o", label=name)
            drawn = True
    if drawn:
        ax.set_xscale("log")
    ax.set(xlabel="words seen (revision)", ylabel="macro accuracy (%)")
    return drawn


def _save(fig, axes, drawn: list[bool], path: Path) -> bool:
    if not any(drawn):
        return False
    for ax, ok in zip(axes, drawn):
        if ok:
            # A fixed corner: loc="best" searches every data point and dominates the drawing time.
            ax.legend(fontsize=7, loc="upper right")
        else:
            ax.text(0.5, 0.5, NOT_RECORDED, ha="center", va="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)
    return True


def _make_plots(runs: list[Run], names: list[str], out: Path) -> list[tuple[str, str, bool]]:
    """Draw every plot into ``out``; return (file, caption, drawn) per plot."""
    palette = colors(len(runs))
    made = []
    fig, (ax,) = figure(1)
    made.append(("loss.png", "Training loss (smoothed when long; raw faint) and validation loss (dashed) vs words seen",
                 _save(fig, [ax], [_plot_loss(runs, names, palette, ax)], out / "loss.png")))
    panels = [
        ("lang_loss.png", "Per-language training loss and validation loss (dashed)", "train", "lang_loss",
         "val_lang_loss", "loss", _keys(runs, "train", "lang_loss") or _keys(runs, "val", "val_lang_loss")),
        ("pi.png", "Mixing weights pi per language over training", "mix", "pi", None, "pi",
         _keys(runs, "mix", "pi")),
        ("rewards.png", "Mixing rewards per language", "mix", "rewards", None, "reward", _keys(runs, "mix", "rewards")),
        ("lr.png", "Learning rate per parameter group", "train", "lr", None, "learning rate",
         _keys(runs, "train", "lr")),
    ]
    for file, caption, kind, field, val_field, ylabel, keys in panels:
        if not keys:
            made.append((file, caption, False))
            continue
        fig, axes = figure(len(keys))
        for ax, key in zip(axes, keys):
            ax.set_title(key)
        drawn = [_plot_per_key(runs, names, palette, kind, field, ax, val_field, ylabel) for ax in axes]
        made.append((file, caption, _save(fig, axes, drawn, out / file)))
    tasks = list(dict.fromkeys(k for run in runs for r in _eval_curves(run) for k in r
                               if k not in ("revision", "words_seen")))
    if tasks:
        fig, axes = figure(len(tasks))
        for ax, task in zip(axes, tasks):
            ax.set_title(task)
        drawn = [_plot_eval(runs, names, palette, ax) for ax in axes]
        made.append(("eval.png", "Zero-shot macro accuracy vs revision (words seen)",
                     _save(fig, axes, drawn, out / "eval.png")))
    else:
        made.append(("eval.png", "Zero-shot macro accuracy vs revision", False))
    multilingual = _plot_multilingual(runs, names, palette, out)
    if multilingual is not None:  # only runs evaluated with --suite multilingual have this plot
        made.append(multilingual)
    return made


def _plot_multilingual(runs, names, colors, out: Path) -> tuple[str, str, bool] | None:
    """Official multilingual (lm-eval) accuracy vs words seen, one panel per requested task or group."""
    caption = "Multilingual track (official lm-eval tasks): accuracy vs revision (words seen)"
    curves = [((run.results or {}).get("multilingual") or {}).get("learning_curve") or [] for run in runs]
    keys = list(dict.fromkeys(k for curve in curves for p in curve for k in p if k not in ("revision", "words_seen")))
    if not keys:
        return None
    fig, axes = figure(len(keys))
    drawn = []
    for ax, key in zip(axes, keys):
        ax.set_title(key)
        ok = False
        for curve, name, c in zip(curves, names, colors):
            pts = sorted((p["words_seen"], 100 * p[key]) for p in curve
                         if isinstance(p.get(key), (int, float)) and isinstance(p.get("words_seen"), (int, float)))
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], color=c, marker="o", label=name)
                ok = True
        if ok:
            ax.set_xscale("log")
        ax.set(xlabel="words seen (revision)", ylabel="accuracy (%)")
        drawn.append(ok)
    return "multilingual.png", caption, _save(fig, axes, drawn, out / "multilingual.png")


def _run_names(runs: list[Run]) -> list[str]:
    names = [run.name for run in runs]
    # Two runs with one recipe name (seeds, reruns) still need distinct legend entries.
    return [f"{n} ({run.path.name})" if names.count(n) > 1 else n for n, run in zip(names, runs)]


def _task_cell(task: dict | None) -> str:
    """Macro accuracy (%), or a strict-suite task's official score (WUG rho, reading R2 gains)."""
    if task and task.get("metric") in ("spearman", "delta_r2_pct"):
        return suite_score(task)
    return fmt_pct((task or {}).get("macro_acc"), NOT_EVALUATED)


def _summary_table(runs: list[Run], names: list[str]) -> str:
    tasks = list(dict.fromkeys(t for run in runs for t in ((headline(run.results) or ("", {}))[1]
                                                             .get("tasks") or {})))
    head = ["Run", "Method", "Seed", "Arch", "Params", "Steps", "Words seen", "Tokens seen", "Wall-clock",
            "Final val loss", "Final val ppl", "Evaluated revision"] + [f"{t} (%)" for t in tasks]
    rows = []
    for run, name in zip(runs, names):
        s = run.summary or {}
        rev, head = headline(run.results) or (NOT_EVALUATED, {})
        res = head.get("tasks") or {}
        rows.append([name, s.get("method", NOT_RECORDED), s.get("seed", NOT_RECORDED), s.get("arch", NOT_RECORDED),
                     fmt_int(s.get("params")), fmt_int(s.get("steps")), fmt_int(s.get("words_seen")),
                     fmt_int(s.get("tokens_seen")), fmt_duration(s.get("wall_clock_s")),
                     fmt_float(s.get("final_val_loss")), fmt_float(s.get("final_val_ppl"), 2), rev]
                    + [_task_cell(res.get(t)) for t in tasks])
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{cells}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


STYLE = ("body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
          "table{border-collapse:collapse;font-size:0.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
          "th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}")


def _finetune_table(runs: list[Run], names: list[str]) -> str:
    from nestling.export.finetune import finetune_report_table

    return finetune_report_table(runs, names) or ""


def _html(runs: list[Run], names: list[str], plots: list[tuple[str, str, bool]]) -> str:
    title = "nestling run report: " + ", ".join(names)
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
             f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
             f"<h1>{html.escape(title)}</h1>\n<h2>Runs</h2>\n",
             "<ul>\n" + "".join(f"<li>{html.escape(n)}: <code>{html.escape(str(r.path))}</code></li>\n"
                                for n, r in zip(names, runs)) + "</ul>\n",
             _summary_table(runs, names), _finetune_table(runs, names), "\n<h2>Plots</h2>\n"]
    for file, caption, drawn in plots:
        if drawn:
            parts.append(f"<figure>\n<img src=\"{file}\" alt=\"{html.escape(caption)}\">\n"
                         f"<figcaption>{html.escape(caption)}</figcaption>\n</figure>\n")
    missing = [caption for _, caption, drawn in plots if not drawn]
    if missing:
        parts.append("<h2>Not recorded</h2>\n<ul>\n" + "".join(f"<li>{html.escape(c)}</li>\n" for c in missing)
                     + "</ul>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def write_report(run_dirs: list[Path], out_dir: Path) -> Path:
    """Write ``out_dir/report.html`` and its PNG plots for one or more runs; return the HTML path.

    Several runs are overlaid in every plot (legend = run name), for ablations and seed comparisons.
    Runs may be unfinished: whatever metrics.jsonl/results.json hold is plotted. A run folder with
    neither raises UserError. Files are drawn in a temporary folder and moved in at the end.
    """
    if not run_dirs:
        raise UserError("report: give at least one run folder")
    runs = [load_run(d) for d in run_dirs]
    for run in runs:
        if not run.metrics and not run.results:
            raise UserError(f"{run.path}: neither metrics.jsonl nor results.json; nothing to report")
    out = Path(out_dir)
    with staging_folder(out, "report") as tmp:
        names = _run_names(runs)
        plots = _make_plots(runs, names, tmp)
        (tmp / "report.html").write_text(_html(runs, names, plots), encoding="utf-8")
        # Plots first, the page last: a reader never sees a page pointing at a missing image.
        for file, _, drawn in plots:
            if drawn:
                os.replace(tmp / file, out / file)
            elif (out / file).exists():
                (out / file).unlink()  # stale plot of an earlier report
        os.replace(tmp / "report.html", out / "report.html")
    return out / "report.html"
