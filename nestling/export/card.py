"""The model card (README.md) of an exported run, in the form of the published BabyLM model cards.

Every number is read from the run's own files (summary.json, ledger.json, results.json, metrics.jsonl,
checkpoints' config.json and checkpoint.json). Anything the files lack is written as "not recorded"
(training facts) or "not evaluated" (zero-shot results); nothing is estimated or filled in.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import yaml

from nestling.errors import UserError

from .compare import delta, eval_scores, headline, score_deltas
from .format import (NOT_EVALUATED, NOT_RECORDED, fmt_delta, fmt_duration, fmt_float, fmt_int, fmt_pct,  # noqa: F401
                     fmt_value, table)
from nestling.recipe import REWARD_ALIASES

from .run import Checkpoint, Run, load_run

# ISO 639-3 -> the 639-1 code the Hub's language filter uses; other codes pass through unchanged.
_HUB_LANG = {"eng": "en", "nld": "nl", "zho": "zh", "deu": "de", "fra": "fr", "spa": "es", "ita": "it",
             "por": "pt", "jpn": "ja", "kor": "ko", "rus": "ru", "ara": "ar", "hin": "hi", "ind": "id",
             "fas": "fa", "pol": "pl", "ces": "cs", "swe": "sv", "ell": "el", "heb": "he", "tur": "tr",
             "eus": "eu", "bul": "bg", "ukr": "uk", "afr": "af", "est": "et", "cym": "cy", "yue": "yue"}

# config.json keys that describe the architecture; bookkeeping keys are left out of the table.
_CONFIG_SKIP = {"architectures", "auto_map", "transformers_version", "torch_dtype", "dtype", "use_cache",
                "bos_token_id", "eos_token_id", "pad_token_id", "output_attentions", "output_hidden_states",
                "return_dict", "_name_or_path", "pretraining_tp", "initializer_range"}

# A run's own citation, looked up in this order: the recipe's `citation` key, then these files in the run folder.
CITATION_FILES = (("citation.bib", "bibtex"), ("CITATION.cff", "yaml"))
NOT_RUN = "not run"
# Method notes for the parts whose formulas nestling reconstructed from a card's or paper's description
# rather than taking from the authors' code.
RECONSTRUCTED = "*nestling's reconstruction, not the paper's formula*"


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
              f"{ledger.get('track', NOT_RECORDED)} track (BabyLM Turns 3, arXiv:2502.10645).", "", ""]
    rows = [["Track", fmt_value(ledger.get("track"))], ["Method", fmt_value(s.get("method"))],
            ["Seed", fmt_value(s.get("seed"))], ["Architecture", fmt_value(arch)],
            ["Parameters", fmt_int(s.get("params"))], ["Words seen", fmt_int(s.get("words_seen"))],
            ["Tokens seen", fmt_int(s.get("tokens_seen"))],
            ["Training wall-clock", fmt_duration(s.get("wall_clock_s"))], ["Hardware", fmt_value(s.get("hardware"))]]
    return "\n".join(lines) + table(["", ""], rows)


def _architecture_method(model: dict) -> str:
    if model.get("arch") == "llama":
        size = (f", {model['num_hidden_layers']} layers of width {model['hidden_size']}"
                if model.get("num_hidden_layers") and model.get("hidden_size") else "")
        return f"**Model.** A Llama decoder (transformers' own `LlamaForCausalLM`: no remote code){size}."
    if model.get("arch") == "stream_mixer":
        return ("**Model.** A Hybrid Stream Mixer: "
                f"{fmt_value(model.get('num_hidden_layers'))} blocks of width {fmt_value(model.get('hidden_size'))}, "
                f"causal RoPE attention at block(s) {fmt_value(model.get('attention_layers'))}, the others stream "
                f"mixers: {fmt_value(model.get('n_streams'))} content-routed memory streams of "
                f"{fmt_value(model.get('stream_dim'))} with learned decays, S_t[m] = lambda_m S_t-1[m] + "
                f"(1 - lambda_m) r_t[m] v_t, read by {fmt_value(model.get('n_read_heads'))} sigmoid-gated heads and "
                f"computed in chunks of {fmt_value(model.get('chunk_size'))} tokens. These stream-mixer internals "
                f"(routing, decay, write and read) are {RECONSTRUCTED}: nestling rebuilt them from the published "
                "card's description.")
    return f"**Model.** Architecture `{fmt_value(model.get('arch'))}`."


def _mixing_method(mixing: dict) -> str | None:
    method = mixing.get("method")
    if method is None:
        return None
    if method != "taam":
        return f"**Language mixing.** Static sampling probabilities: `{method}`."
    reward = {"v1": "v1, normalized excess loss (a language is rewarded for its loss falling below its own recent "
              "level)", "v2": "v2, cross-lingual deficit (a language is rewarded for lagging the best language)"}
    return ("**Language mixing (TAAM).** The initial probabilities are a typological prior: a softmax (temperature "
            f"{fmt_value(mixing.get('prior_temperature'))}) over each language's mean URIEL distance to the others "
            f"({fmt_value(mixing.get('prior_features'))}); the TAAM prior's formula is {RECONSTRUCTED}. Every "
            f"{fmt_value(mixing.get('mix_interval'))} steps an EXP3 update ({fmt_value(mixing.get('update'))}, "
            f"gamma {fmt_value(mixing.get('gamma'))}, eta {fmt_value(mixing.get('eta'))}, floor "
            f"{fmt_value(mixing.get('floor'))}) moves them by a reward computed from held-out probe losses: "
            f"{reward.get(REWARD_ALIASES.get(mixing.get('reward')), fmt_value(mixing.get('reward')))}. The rewards' "
            f"formulas are {RECONSTRUCTED}.")


def _method_section(run: Run) -> str | None:
    """How the model was trained, in words, from the resolved recipe; reconstructed formulas are marked so."""
    recipe = run.recipe or {}
    if not recipe:
        return None
    data, opt, sched = recipe.get("data") or {}, recipe.get("optimizer") or {}, recipe.get("schedule") or {}
    parts = [_architecture_method(recipe.get("model") or {}), _mixing_method(recipe.get("mixing") or {})]
    if data.get("track") == "multilingual":
        parts.append("**Budget.** Words are counted in English-word equivalents: UTF-8 bytes / (5.43 x the "
                     "language's byte premium), with premiums from Arnett et al. 2024. This conversion of the "
                     f"multilingual track's word budget is {RECONSTRUCTED}.")
    if opt.get("name") == "muon_adamw":
        parts.append(f"**Optimizer.** Muon (peak LR {fmt_value(opt.get('muon_lr'))}) on the hidden weight matrices, "
                     f"AdamW (peak LR {fmt_value(opt.get('adamw_lr'))}) on the rest, weight decay "
                     f"{fmt_value(opt.get('weight_decay'))}.")
    elif opt.get("name"):
        parts.append(f"**Optimizer.** `{opt['name']}`, peak LR {fmt_value(opt.get('adamw_lr'))}.")
    if sched.get("name"):
        parts.append(f"**Schedule.** `{sched['name']}`: warmup {fmt_value(sched.get('warmup_fraction'))} and "
                     f"{fmt_value(sched.get('decay_type'))} decay {fmt_value(sched.get('decay_fraction'))} "
                     "of the steps.")
    return "## Method\n\nFrom the resolved recipe (`recipe.yaml`).\n\n" + "\n\n".join(p for p in parts if p)



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
    if not (results.get("suite") or results.get("aoa")) or head is None:
        return None
    rev, res = head
    tasks = res.get("tasks") or {}
    rows = [[name, {"spearman": "Spearman rho (WUG)", "delta_r2_pct": "% of max R2 increase"}.get(
        t.get("metric"), "accuracy (%)"), fmt_int(t.get("n_items")), suite_score(t)]
        for name, t in tasks.items()]
    if "reading" not in tasks:
        rows.append(["reading", "% of max R2 increase", NOT_RUN, NOT_RUN])
    rows.append(_aoa_row(results))
    out = ["## BabyLM strict-track suite", "",
           f"`{results.get('suite') or NOT_RUN}` on revision `{rev}`, scored as the official pipeline scores it "
           "(ties go to the first candidate; accuracy = mean over UIDs, entity tracking over splits; reading = increase in R2 over "
           "the baseline predictors as a percentage of the maximum, averaged over the eye-tracking measures, and "
           "for self-paced reading with one-word spillover; AoA as the official `AoAEvaluator` scores the "
           "age-of-acquisition surprisals of every revision, shown at the final one).", "",
           table(["Task", "Metric", "Items", "Score"], rows)]
    if results.get("missing"):
        out += ["", "Not evaluated (task data missing): " + ", ".join(f"{m['task']}" for m in results["missing"]) + "."]
    return "\n".join(out)


def _val_losses(run: Run) -> dict[str, float]:
    """{"all": final validation loss, lang: its loss}: summary.json, per language the last val record."""
    vals = run.records("val")
    out = {"all": (run.summary or {}).get("final_val_loss")}
    out.update((vals[-1].get("val_lang_loss") or {}) if vals else {})
    return {k: v for k, v in out.items() if isinstance(v, (int, float)) and math.isfinite(v)}


def _ppl(loss: float | None) -> float | None:
    return math.exp(loss) if loss is not None and loss < 700 else None


def _validation_section(run: Run, baseline: Run | None) -> str | None:
    """Final validation loss (nats/token) and perplexity, with Deltas against ``baseline`` (this minus baseline)."""
    ours = _val_losses(run)
    theirs = _val_losses(baseline) if baseline is not None else {}
    if not ours:
        return None
    rows = []
    for key in dict.fromkeys([*ours, *theirs]):
        a, b = ours.get(key), theirs.get(key)
        row = ["all languages" if key == "all" else key, fmt_float(a), fmt_float(_ppl(a), 2)]
        if baseline is not None:
            both = a is not None and b is not None
            row += [fmt_float(b), fmt_float(_ppl(b), 2), f"{a - b:+.4f}" if both else "n/a",
                    f"{_ppl(a) - _ppl(b):+.2f}" if both and _ppl(a) and _ppl(b) else "n/a"]
        rows.append(row)
    header = ["", "Val loss", "Val perplexity"]
    text = ["## Validation loss", "", "Final held-out loss (nats per token) and perplexity (exp of the loss), "
            "from `summary.json` and the last validation record of `metrics.jsonl`."]
    if baseline is not None:
        header += ["Baseline loss", "Baseline perplexity", "Δ loss", "Δ perplexity"]
        text[-1] += (f" Baseline: **{baseline.name}** (`{baseline.path.name}`); Δ = this run minus the baseline "
                     "(negative is better). Both runs' held-out sets are their own: the Δ compares like with like "
                     "only when they were trained on the same prepared data.")
    return "\n".join(text + ["", table(header, rows)])


def _aoa_row(results: dict) -> list[str]:
    """The AoA row of the suite table, from the section strict-full writes (nestling.evaluation.suites):
    one Pearson r over the sigmoid fits of every revision's surprisals, so one score for the run."""
    aoa = results.get("aoa")
    if not isinstance(aoa, dict) or "score" not in aoa:
        return ["aoa", "Pearson r (AoA)", NOT_RUN, NOT_RUN]
    words = f"{fmt_int(aoa.get('n_words'))} words x {len(aoa.get('revisions') or [])} revisions"
    return ["aoa", "Pearson r (AoA)", words, fmt_float(aoa.get("score"), 3)]


def _citation_section(run: Run) -> str | None:
    """The run's own citation (recipe `citation`, else citation.bib / CITATION.cff in the run folder), verbatim."""
    text = (run.recipe or {}).get("citation")
    lang = "bibtex"
    for name, file_lang in CITATION_FILES:
        if not text and (run.path / name).is_file():
            text, lang = (run.path / name).read_text(encoding="utf-8"), file_lang
    if not isinstance(text, str) or not text.strip():
        return None
    return f"## Citation\n\n```{lang}\n{text.strip()}\n```"



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


USAGE_PROMPT = "The cat sat on the"


def _usage_section(run: Run, repo_id: str | None) -> str:
    """The card's Usage block; `make compat` and tests/export run it verbatim (`usage_code`)."""
    remote = bool(run.final and run.final.needs_remote_code)
    trust = ", trust_remote_code=True" if remote else ""
    rev = run.checkpoints[0].name if run.checkpoints else "main"
    repo = repo_id or "OWNER/NAME"
    return (f"## Usage\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f"repo = \"{repo}\"\ntokenizer = AutoTokenizer.from_pretrained(repo{trust})\n"
            f"model = AutoModelForCausalLM.from_pretrained(repo{trust})\n\n"
            f"inputs = tokenizer(\"{USAGE_PROMPT}\", return_tensors=\"pt\")\n"
            f"outputs = model.generate(**inputs, max_new_tokens=50)\n"
            f"print(tokenizer.decode(outputs[0], skip_special_tokens=True))\n\n"
            f"# an intermediate checkpoint: pass its branch as the revision\n"
            f"early = AutoModelForCausalLM.from_pretrained(repo, revision=\"{rev}\"{trust})\n```"
            + ("\n\nThe architecture ships its own modeling code, hence `trust_remote_code=True`." if remote else ""))


def usage_code(card: str, repo: str | None = None) -> str:
    """The Python block under the card's "## Usage" heading; ``repo`` (a local folder) replaces the Hub id.

    UserError if the card has no such block."""
    match = re.search(r"^## Usage\n.*?^```python\n(.*?)^```", card, re.MULTILINE | re.DOTALL)
    if match is None:
        raise UserError("the model card has no ```python block under ## Usage")
    code = match.group(1)
    if repo is not None:
        code = re.sub(r'^repo = ".*"$', lambda _: f"repo = {json.dumps(str(repo))}", code, count=1, flags=re.MULTILINE)
    return code


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
    sections = [_front_matter(run, license, datasets), _overview(run, revision), _method_section(run),
                _data_section(run), _mixing_section(run), _architecture_section(run), _training_section(run),
                _validation_section(run, compare), _results_section(run, compare),
                finetune_card_section(run, compare), _multilingual_section(run), _suite_section(run),
                _revisions_section(run), _usage_section(run, repo_id), _recipe_section(run), _citation_section(run)]
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
