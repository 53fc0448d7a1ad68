"""The model card (README.md) of an exported run, in the form of the published BabyLM model cards.

Every number is read from the run's own files (summary.json, ledger.json, results.json, metrics.jsonl,
checkpoints' config.json and checkpoint.json). Anything the files lack is written as "not recorded"
(training facts) or "not evaluated" (zero-shot results); nothing is estimated or filled in.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from nestling.errors import UserError

from .compare import delta, eval_scores, headline, score_deltas
from .format import (NOT_EVALUATED, NOT_RECORDED, fmt_delta, fmt_duration, fmt_float, fmt_int, fmt_pct,  # noqa: F401
                     fmt_value, table)
from .run import Checkpoint, Run, load_run, revision_sort_key

# ISO 639-3 -> the 639-1 code the Hub's language filter uses; other codes pass through unchanged.
_HUB_LANG = {"eng": "en", "nld": "nl", "zho": "zh", "deu": "de", "fra": "fr", "spa": "es", "ita": "it",
             "por": "pt", "jpn": "ja", "kor": "ko", "rus": "ru", "ara": "ar", "hin": "hi", "ind": "id",
             "fas": "fa", "pol": "pl", "ces": "cs", "swe": "sv", "ell": "el", "heb": "he", "tur": "tr",
             "eus": "eu", "bul": "bg", "ukr": "uk", "afr": "af", "est": "et", "cym": "cy", "yue": "yue"}

# config.json keys that describe the architecture; bookkeeping keys are left out of the table.
_CONFIG_SKIP = {"architectures", "auto_map", "transformers_version", "torch_dtype", "dtype", "use_cache",
                "bos_token_id", "eos_token_id", "pad_token_id", "output_attentions", "output_hidden_states",
                "return_dict", "_name_or_path", "pretraining_tp", "initializer_range"}

CITATION = """@misc{charpentier2025babylmturns3,
  title         = {BabyLM Turns 3: Call for papers for the 2025 BabyLM workshop},
  author        = {Lucas Charpentier and Leshem Choshen and Ryan Cotterell and Mustafa Omer Gul and Michael Hu and
                   Jaap Jumelet and Tal Linzen and Jing Liu and Aaron Mueller and Candace Ross and Raj Sanjay Shah and
                   Alex Warstadt and Ethan Wilcox and Adina Williams},
  year          = {2025},
  eprint        = {2502.10645},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""


def flatten(d: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}: nested recipe sections as table rows."""
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _front_matter(run: Run, license: str, datasets: list[str] | None) -> str:
    langs = list(((run.ledger or {}).get("languages") or {}).keys()) or list(
        ((run.summary or {}).get("mixing") or {}).get("exposures", {}).keys())
    s = run.summary or {}
    tags = ["babylm", "nestling", "text-generation"]
    track = (run.ledger or {}).get("track")
    tags += [t for t in (f"babylm-{track}" if track else None, s.get("arch"), s.get("method")) if t]
    meta = {"license": license, "language": [_HUB_LANG.get(lang, lang) for lang in langs] or None,
            "library_name": "transformers", "pipeline_tag": "text-generation", "tags": list(dict.fromkeys(tags))}
    if datasets:
        meta["datasets"] = list(datasets)
    meta = {k: v for k, v in meta.items() if v is not None}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---"


def _overview(run: Run, revision: Checkpoint | None) -> str:
    s, ledger = run.summary or {}, run.ledger or {}
    arch = s.get("arch") or (run.final.config.get("model_type") if run.final else None)
    lines = [f"# {run.name}", ""]
    if revision is not None:
        lines += [f"> This is revision **{revision.name}** ({fmt_int(revision.words_seen)} words seen). "
                  "The final model is on the `main` branch.", ""]
    lines += [f"A causal language model ({fmt_value(arch)} architecture) trained from scratch with "
              f"nestling on a child-sized word budget for the BabyLM "
              f"{ledger.get('track', NOT_RECORDED)} track.", "", ""]
    rows = [["Track", fmt_value(ledger.get("track"))], ["Method", fmt_value(s.get("method"))],
            ["Seed", fmt_value(s.get("seed"))], ["Architecture", fmt_value(arch)],
            ["Parameters", fmt_int(s.get("params"))], ["Words seen", fmt_int(s.get("words_seen"))],
            ["Tokens seen", fmt_int(s.get("tokens_seen"))],
            ["Training wall-clock", fmt_duration(s.get("wall_clock_s"))], ["Hardware", fmt_value(s.get("hardware"))]]
    return "\n".join(lines) + table(["", ""], rows)


def _data_section(run: Run) -> str:
    ledger = run.ledger
    if not ledger:
        return "## Data and budget\n\nNo ledger.json in the run: data and budget " + NOT_RECORDED + "."
    used = ledger.get("budget_used")
    rows = [["Track", fmt_value(ledger.get("track"))], ["Word limit", fmt_int(ledger.get("limit_words"))],
            ["Words in the training data", fmt_int(ledger.get("total_words"))],
            ["Budget used", NOT_RECORDED if used is None else f"{100 * used:.4g}%"],
            ["Over budget", fmt_value(ledger.get("over_budget"))], ["Word rule", fmt_value(ledger.get("word_rule"))]]
    langs = ledger.get("languages") or {}
    lang_rows = [[lang, fmt_int(v.get("files")), fmt_int(v.get("lines_kept")), fmt_int(v.get("lines_dropped")),
                  fmt_int(v.get("words")), fmt_int(v.get("english_word_equivalents")),
                  fmt_value(v.get("byte_premium")), f"`{str(v.get('sha256', ''))[:12]}`"] for lang, v in langs.items()]
    out = ["## Data and budget", "", "From the run's budget ledger (`ledger.json`).", "", table(["", ""], rows)]
    if lang_rows:
        out += ["", table(["Language", "Files", "Lines kept", "Lines dropped", "Words", "English-word equivalents",
                           "Byte premium", "sha256"], lang_rows)]
    return "\n".join(out)


def _mixing_section(run: Run) -> str | None:
    mixing = (run.summary or {}).get("mixing")
    if not mixing:
        return None
    final_pi, exposures = mixing.get("final_pi") or {}, mixing.get("exposures") or {}
    pi_0 = mixing.get("pi_0") or {}
    langs = list(dict.fromkeys([*pi_0, *final_pi, *exposures]))
    if len(langs) < 2:
        return None
    total = mixing.get("total_exposure")
    rows = [[lang, fmt_float(pi_0.get(lang)), fmt_float(final_pi.get(lang)), fmt_int(exposures.get(lang)),
             NOT_RECORDED if not total or exposures.get(lang) is None else f"{100 * exposures[lang] / total:.2f}%"]
            for lang in langs]
    return "\n".join(["## Language mixing", "", f"Mixing method: **{fmt_value(mixing.get('method'))}**. "
                      f"Total token exposures: **{fmt_int(total)}**.", "",
                      table(["Language", "Initial pi", "Final pi", "Token exposures", "Share of exposures"], rows)])


def _architecture_section(run: Run) -> str:
    config = run.final.config if run.final else {}
    if not config:
        return "## Architecture\n\nNo config.json: architecture " + NOT_RECORDED + "."
    rows = [["Parameters", fmt_int((run.summary or {}).get("params"))],
            ["Remote code (`trust_remote_code=True`)", "yes" if config.get("auto_map") else "no"]]
    rows += [[f"`{k}`", fmt_value(v)] for k, v in config.items()
             if k not in _CONFIG_SKIP and not isinstance(v, dict) and not k.startswith("_")]
    return "## Architecture\n\nFrom the final model's `config.json`.\n\n" + table(["", ""], rows)


def _peak_lrs(run: Run) -> dict[str, float]:
    peaks: dict[str, float] = {}
    for r in run.records("train"):
        lr = r.get("lr")
        for group, x in (lr.items() if isinstance(lr, dict) else [("lr", lr)] if lr is not None else []):
            if isinstance(x, (int, float)):
                peaks[group] = max(peaks.get(group, float("-inf")), x)
    return peaks


def _epochs(run: Run) -> str:
    """Passes over each language's training shard, e.g. 'eng 1.25, nld 0.98': summary.json, else the last
    train record of metrics.jsonl."""
    train = run.records("train")
    epochs = (run.summary or {}).get("epochs") or (train[-1].get("epochs") if train else None)
    if not isinstance(epochs, dict) or not epochs:
        return NOT_RECORDED
    return ", ".join(f"{lang} {x:.2f}" for lang, x in epochs.items())


def _over_epochs(summary: dict) -> str:
    """The languages trained past BabyLM's 10 epochs (possible only with budget.allow_over_epochs), or "no"."""
    epochs = summary.get("epochs")
    if not isinstance(epochs, dict) or not epochs:
        return NOT_RECORDED
    over = {lang: x for lang, x in epochs.items() if isinstance(x, (int, float)) and x > 10 * (1 + 1e-9)}
    shown = ", ".join(f"{lang} {x:.2f}" for lang, x in over.items())
    return f"yes, allowed by `budget.allow_over_epochs`: {shown}" if over else "no"


def _training_section(run: Run) -> str:
    s = run.summary or {}
    optimizer, schedule, batch = s.get("optimizer") or {}, s.get("schedule") or {}, s.get("batch") or {}
    flat_opt = flatten(optimizer)
    decay = {k: v for k, v in flat_opt.items() if "weight_decay" in k}
    peaks = _peak_lrs(run)
    rows = [["Optimizer", fmt_value(optimizer.get("name") or optimizer.get("type"))]]
    rows += [[f"Peak LR ({g})", f"{x:g}"] for g, x in peaks.items()] or [["Peak LR", NOT_RECORDED]]
    rows += [["Weight decay" if k == "weight_decay" else f"Weight decay ({k})", fmt_value(v)]
             for k, v in decay.items()] or [["Weight decay", NOT_RECORDED]]
    rows += [[f"`optimizer.{k}`", fmt_value(v)] for k, v in flat_opt.items()
             if k not in decay and k not in ("name", "type")]
    rows += [["Schedule", fmt_value(schedule.get("name") or schedule.get("type"))]]
    rows += [[f"`schedule.{k}`", fmt_value(v)] for k, v in flatten(schedule).items() if k not in ("name", "type")]
    rows += [[f"`batch.{k}`", fmt_value(v)] for k, v in flatten(batch).items()] or [["Batch", NOT_RECORDED]]
    rows += [["Steps", fmt_int(s.get("steps"))], ["Skipped steps", fmt_int(s.get("skipped_steps"))],
             ["Tokens seen", fmt_int(s.get("tokens_seen"))], ["Words seen", fmt_int(s.get("words_seen"))],
             ["Epochs", _epochs(run)], ["Past BabyLM's 10-epoch limit", _over_epochs(s)],
             ["Hardware", fmt_value(s.get("hardware"))], ["Device", fmt_value(s.get("device"))],
             ["Training wall-clock", fmt_duration(s.get("wall_clock_s"))],
             ["Final validation loss", fmt_float(s.get("final_val_loss"))],
             ["Final validation perplexity", fmt_float(s.get("final_val_ppl"), 2)]]
    return "## Training details\n\nFrom `summary.json`; peak learning rates are the largest values logged in " \
           "`metrics.jsonl`.\n\n" + table(["", ""], rows)


def _task_rows(tasks: dict, deltas: dict | None) -> list[list[str]]:
    """One row per accuracy task; ``deltas`` (nestling.export.compare.score_deltas) adds the Delta column."""
    rows = []
    for name, t in tasks.items():
        if t.get("metric") in ("spearman", "delta_r2_pct"):  # not accuracies: shown by _suite_section
            continue
        row = [name, fmt_value(t.get("format")), fmt_int(t.get("n_items")), fmt_int(t.get("n_uids")),
               fmt_pct(t.get("macro_acc")),
               fmt_pct(t.get("weighted_acc"))]
        if deltas is not None:
            row.append(fmt_delta(deltas.get(name)))
        rows.append(row)
    return rows


def _field_table(task: dict, ref_task: dict | None, with_delta: bool) -> str:
    def acc(f: dict):
        return f.get("acc", f.get("macro_acc"))

    ref_fields = (ref_task or {}).get("by_field") or {}
    rows = []
    for fname, f in task["by_field"].items():
        row = [fname, fmt_int(f.get("n")), fmt_pct(acc(f))]
        if with_delta:
            row.append(fmt_delta(delta(acc(f), acc(ref_fields.get(fname) or {}))))
        rows.append(row)
    return table(["Field", "Items", "Accuracy (%)"] + (["Delta (pp)"] if with_delta else []), rows)


def _learning_curve(results: dict) -> str | None:
    curve = results.get("learning_curve") or []
    if not curve:
        return None
    tasks = list(dict.fromkeys(k for row in curve for k in row if k not in ("revision", "words_seen")))
    rows = [[fmt_value(r.get("revision")), fmt_int(r.get("words_seen"))] + [fmt_pct(r.get(t)) for t in tasks]
            for r in curve]
    return "### Learning curve\n\nMacro accuracy (%) at each evaluated revision.\n\n" + \
        table(["Revision", "Words seen"] + tasks, rows)


def _results_section(run: Run, compare: Run | None) -> str:
    head = headline(run.results)
    if head is None:
        return f"## Zero-shot evaluation\n\n{NOT_EVALUATED.capitalize()}: the run has no `results.json`."
    rev, res = head
    tasks = res.get("tasks") or {}
    ref = headline(compare.results) if compare is not None else None
    ref_tasks = (ref[1].get("tasks") or {}) if ref else ({} if compare is not None else None)
    deltas = score_deltas(eval_scores(run.results), eval_scores(compare.results)) if compare is not None else None
    out = ["## Zero-shot evaluation", "",
           f"Minimal-pair accuracy of revision `{rev}` ({fmt_int(res.get('words_seen'))} words seen), scored as the "
           f"BabyLM pipeline scores it (ties: {fmt_value(res.get('headline_tie_rule'))}). "
           "Macro = mean over paradigms (UIDs); weighted = mean over items."
           + (" **Fast mode**: scored on fixed subsets of each task, not the full data." if res.get("fast") else "")]
    if compare is not None:
        out.append(f"Delta: percentage points against **{compare.name}** "
                   f"(revision `{ref[0] if ref else NOT_EVALUATED}`).")
    header = ["Task", "Format", "Items", "UIDs", "Macro acc (%)", "Weighted acc (%)"]
    header += ["Delta (pp)"] if compare is not None else []
    out += ["", table(header, _task_rows(tasks, deltas)) if tasks else NOT_EVALUATED.capitalize() + "."]
    for name, t in tasks.items():
        if t.get("by_field"):
            out += ["", f"### {name}: by field", "",
                    _field_table(t, (ref_tasks or {}).get(name), compare is not None)]
    curve = _learning_curve(run.results)
    if curve:
        out += ["", curve]
    return "\n".join(out)


def _multilingual_section(run: Run) -> str | None:
    """The multilingual track's official zero-shot scores (lm-eval), one row per revision."""
    ml = (run.results or {}).get("multilingual")
    if not ml or not ml.get("revisions"):
        return None
    names = [n for n in ml.get("requested") or [] if any(n in r.get("scores", {}) for r in ml["revisions"].values())]
    rows = [[f"`{rev}`", fmt_int(r.get("words_seen"))] + [fmt_pct((r.get("scores", {}).get(n) or {}).get("acc"))
                                                           for n in names]
            for rev, r in ml["revisions"].items()]
    text = ["## Multilingual track (official zero-shot tasks)", "",
            f"Accuracy (%) of the official BabyLM multilingual task YAMLs, run with {fmt_value(ml.get('harness'))} "
            f"(zero-shot, the YAMLs' metrics; groups aggregate their members as the YAMLs say), at every revision.",
            "", table(["Revision", "Words seen"] + names, rows)]
    if ml.get("limit"):
        text += ["", f"**Limited run**: only the first {fmt_int(ml['limit'])} items of each task were scored "
                 "(lm-eval's `--limit`), a quick check rather than the official score."]
    if ml.get("skipped"):
        skipped = sorted(ml["skipped"])
        names = ", ".join(skipped[:12]) + (f" and {len(skipped) - 12} more" if len(skipped) > 12 else "")
        text += ["", f"Not evaluated ({len(skipped)} tasks without data): {names}; the groups above aggregate "
                 "the tasks that ran (see results.json)."]
    return "\n".join(text)


def suite_score(task: dict) -> str:
    """A strict-suite task's official score: accuracy %, Spearman rho, or reading's two R2 gains (%)."""
    if task.get("metric") == "delta_r2_pct":
        return f"eye tracking {fmt_float(task.get('eye_tracking'), 2)}, self-paced {fmt_float(task.get('self_paced_reading'), 2)}"
    if task.get("metric") == "spearman":
        return fmt_float(task.get("score"), 3)
    return fmt_pct(task.get("score"))


def _suite_section(run: Run) -> str | None:
    results = run.results or {}
    head = headline(results)
    if not results.get("suite") or head is None:
        return None
    rev, res = head
    rows = [[name, {"spearman": "Spearman rho (WUG)", "delta_r2_pct": "% of max R2 increase"}.get(
        t.get("metric"), "accuracy (%)"), fmt_int(t.get("n_items")), suite_score(t)]
        for name, t in (res.get("tasks") or {}).items()]
    out = ["## BabyLM strict-track suite", "",
           f"`{results['suite']}` on revision `{rev}`, scored as the official pipeline scores it (ties go to the "
           "first candidate; accuracy = mean over UIDs, entity tracking over splits; reading = increase in R2 over "
           "the baseline predictors as a percentage of the maximum, averaged over the eye-tracking measures, and "
           "for self-paced reading with one-word spillover).", "", table(["Task", "Metric", "Items", "Score"], rows)]
    if results.get("missing"):
        out += ["", "Not evaluated (task data missing): " + ", ".join(f"{m['task']}" for m in results["missing"]) + "."]
    return "\n".join(out)


def _revisions_section(run: Run) -> str:
    curve = {r.get("revision"): r for r in (run.results or {}).get("learning_curve") or []}
    revisions = (run.results or {}).get("revisions") or {}
    rows = []
    for ck in [*run.checkpoints, run.final]:
        if ck is None:
            continue
        branch = "main" if ck.name == "final" else ck.name
        evaluated = ck.name in revisions or ck.name in curve or (branch == "main" and "main" in revisions)
        rows.append([f"`{branch}`", fmt_int(ck.meta.get("words_seen")), fmt_int(ck.meta.get("tokens_seen")),
                     fmt_int(ck.meta.get("step")), "yes" if evaluated else NOT_EVALUATED])
    scale = ((run.recipe or {}).get("checkpoints") or {}).get("milestone_scale")
    note = ""
    if isinstance(scale, (int, float)) and scale != 1:
        note = (f" Branch names are BabyLM's nominal word counts; this run set `checkpoints.milestone_scale` to "
                f"{scale:g}, so each checkpoint was saved after that fraction of its nominal words (column 2).")
    return "## Revisions\n\nOne branch per BabyLM checkpoint; `main` holds the final model." + note + "\n\n" + \
        table(["Revision", "Words seen", "Tokens seen", "Step", "Evaluated"], rows)


def _usage_section(run: Run, repo_id: str | None) -> str:
    remote = bool(run.final and run.final.needs_remote_code)
    trust = ", trust_remote_code=True" if remote else ""
    rev = run.checkpoints[0].name if run.checkpoints else "main"
    repo = repo_id or "OWNER/NAME"
    return (f"## Usage\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"repo = \"{repo}\"\ntokenizer = AutoTokenizer.from_pretrained(repo{trust})\n"
            f"model = AutoModelForCausalLM.from_pretrained(repo{trust})\n\n"
            f"# an intermediate checkpoint: pass its branch as the revision\n"
            f"early = AutoModelForCausalLM.from_pretrained(repo, revision=\"{rev}\"{trust})\n```"
            + ("\n\nThe architecture ships its own modeling code, hence `trust_remote_code=True`." if remote else ""))


def _recipe_section(run: Run) -> str | None:
    if not run.recipe:
        return None
    # "_"-keys are the loader's bookkeeping (e.g. the local path it read), not settings.
    recipe = {k: v for k, v in run.recipe.items() if not str(k).startswith("_")}
    text = yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True).rstrip()
    return ("## Recipe\n\nThe resolved recipe (`recipe.yaml`, all defaults filled) that trained this model.\n\n"
            f"<details>\n<summary>recipe.yaml</summary>\n\n```yaml\n{text}\n```\n\n</details>")


def finetune_card_section(run: Run, compare: Run | None) -> str | None:
    from .finetune import finetune_card_section as section  # a separate module: fine-tuning's own table

    return section(run, compare)


def render_card(run: Run, *, compare: Run | None = None, revision: Checkpoint | None = None,
                repo_id: str | None = None, license: str = "apache-2.0", datasets: list[str] | None = None) -> str:
    """The card of an already-loaded run; `render_model_card` is the path-based entry point."""
    sections = [_front_matter(run, license, datasets), _overview(run, revision), _data_section(run),
                _mixing_section(run), _architecture_section(run), _training_section(run),
                _results_section(run, compare), finetune_card_section(run, compare), _multilingual_section(run), _suite_section(run), _revisions_section(run), _usage_section(run, repo_id),
                _recipe_section(run),
                "## Citation\n\n```bibtex\n" + CITATION + "\n```"]
    return "\n\n".join(s for s in sections if s) + "\n"


def render_model_card(run_dir: str | Path, *, compare: str | Path | None = None, revision: str | None = None,
                      repo_id: str | None = None, license: str = "apache-2.0",
                      datasets: list[str] | None = None) -> str:
    """Markdown model card (with Hub YAML front matter) for the run in ``run_dir``.

    ``compare``: another run folder; its headline results become a Delta column (percentage points).
    ``revision``: a checkpoint name (e.g. ``chck_10M``): the card notes that this branch is that revision.
    ``repo_id``: used in the usage snippet (default placeholder ``OWNER/NAME``).
    ``license``/``datasets``: Hub metadata; ``datasets`` is left out unless given, never guessed.
    Missing files never raise here: their facts read "not recorded" / "not evaluated".
    """
    run = load_run(run_dir)
    other = load_run(compare) if compare is not None else None
    ck = next((c for c in run.checkpoints if c.name == revision), None) if revision else None
    if revision and ck is None:
        raise UserError(f"{run.path}: no checkpoint {revision!r} in checkpoints/")
    return render_card(run, compare=other, revision=ck, repo_id=repo_id, license=license, datasets=datasets)
