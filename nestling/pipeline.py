"""The main jobs, composed from the library: prepare data when needed, train, evaluate.

`nestling demo` is `run_demo`: built-in corpus -> ledger -> tokenizer -> shards -> training with
BabyLM checkpoints -> zero-shot evaluation of every checkpoint -> a per-language table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from nestling.errors import UserError
from nestling.recipe import load_recipe

def write_builtin_data(root: Path, words: int, seed: int, langs: list[str], pairs_per_uid: int = 100) -> str:
    """Write the built-in corpus (root/raw/<lang>/) and minimal pairs (root/pairs/); returns a summary."""
    from nestling.data.generator import builtin_summary, generate_corpus, generate_minimal_pairs

    root = Path(root)
    corpus = generate_corpus(root / "raw", words_total=words, langs=tuple(langs), seed=seed)
    pairs = generate_minimal_pairs(root / "pairs", langs=tuple(langs), seed=seed, per_paradigm=pairs_per_uid)
    summary = builtin_summary(corpus)
    lines = [f"built-in data in {root} (seed {seed})"]
    lines += [f"  {lang}: {json.dumps(summary[lang])}  pairs: {pairs[lang]}" for lang in langs]
    return "\n".join(lines)


def builtin_root(recipe: dict) -> Path:
    """One folder per distinct built-in dataset, so a changed size or seed never reuses stale data."""
    data = recipe["data"]
    langs = "-".join(data["builtin_langs"])
    name = f"builtin-{langs}-w{data['builtin_words']}-s{recipe['seed']}-v{recipe['tokenizer']['vocab_size']}"
    return Path(data["builtin_root"]) / name


def builtin_pairs(recipe: dict) -> list[Path]:
    root = builtin_root(recipe) / "pairs"
    return [root / f"{lang}_pairs.jsonl" for lang in recipe["data"]["builtin_langs"]]


def _dataset_ready(dataset: Path, langs: list[str] | None) -> bool:
    if not (dataset / "tokenizer" / "tokenizer.json").is_file():
        return False
    shards = dataset / "shards"
    have = {p.name for p in shards.iterdir() if (p / "meta.json").is_file()} if shards.is_dir() else set()
    return bool(have) and (langs is None or set(langs) <= have)


def _prepare(dataset: Path, sources: dict, recipe: dict) -> None:
    from nestling.data.prepare import prepare_dataset, summary_table
    from nestling.data.tokenize import tokenize_dataset, tokenize_table
    from nestling.data.tokenizer import fertility_table, train_tokenizer

    data = recipe["data"]
    if not (dataset / "ledger.json").is_file():
        ledger = prepare_dataset(
            sources, dataset, data["track"], fmt=data["format"], keep_child=data["keep_child"],
            on_bad_line=data["on_bad_line"], allow_over_budget=data["allow_over_budget"],
        )
        print(summary_table(ledger))
    tok = recipe["tokenizer"]
    print(fertility_table(train_tokenizer(dataset, vocab_size=tok["vocab_size"], balance_languages=tok["balance_languages"])))
    print(tokenize_table(tokenize_dataset(dataset)))


def _wait_for(dataset: Path, langs: list[str] | None, timeout_s: float = 3600) -> None:
    """Under torchrun only rank 0 prepares data; the other ranks wait for its shards."""
    start = time.time()
    while not _dataset_ready(dataset, langs):
        if time.time() - start > timeout_s:
            raise UserError(f"{dataset}: rank 0 did not finish preparing the data in {timeout_s:.0f} s")
        time.sleep(2)


def ensure_dataset(recipe: dict) -> Path:
    """The recipe's prepared dataset folder, preparing it first (built-in or raw sources) when missing."""
    data = recipe["data"]
    sources = {lang: [Path(p)] for lang, p in data["sources"].items()}
    if data["dir"] is None and sources:
        raise UserError("data.sources needs data.dir: the folder to write the prepared dataset to")
    if sources:
        dataset, langs = Path(data["dir"]), list(sources)
    elif data["dir"] is not None:
        dataset, langs = Path(data["dir"]), None
        if not _dataset_ready(dataset, None):
            raise UserError(f"{dataset}: not a prepared dataset (needs tokenizer/ and shards/); "
                            "run `nestling data prepare`, `nestling tokenizer train`, `nestling data tokenize`")
    else:
        root = builtin_root(recipe)
        dataset, langs = root / "dataset", list(data["builtin_langs"])
        sources = {lang: [root / "raw" / lang] for lang in langs}
    if _dataset_ready(dataset, langs):
        return dataset
    if int(os.environ.get("RANK", "0")) != 0:
        _wait_for(dataset, langs)
        return dataset
    if data["dir"] is None:
        print(write_builtin_data(root, data["builtin_words"], recipe["seed"], langs, data["builtin_pairs"]))
    _prepare(dataset, sources, recipe)
    return dataset


def prepare_and_train(recipe: dict, out_dir: Path | None = None, resume: Path | None = None) -> Path:
    """Make sure a loaded recipe's data exists, then train; returns the run folder."""
    from nestling.training.validate import check_recipe, check_resume

    # Before any data is prepared or folder made: a bad recipe leaves nothing behind.
    check_recipe(recipe)
    if resume is not None:
        check_resume(recipe, resume)
    recipe["data"]["dir"] = str(ensure_dataset(recipe))
    from nestling.training.trainer import train

    return train(recipe, out_dir=out_dir, resume=resume)


def train_recipe(recipe_or_name, overrides: list[str] | None = None, out_dir: Path | None = None,
                 resume: Path | None = None) -> Path:
    """Load a recipe (file, shipped name or mapping), prepare its data when missing, train."""
    return prepare_and_train(load_recipe(recipe_or_name, overrides), out_dir=out_dir, resume=resume)


def check_finished(run_dir: Path) -> None:
    """Raise RunStopped when training stopped early on a signal: `train && eval` must not go on."""
    from nestling.errors import RunStopped

    summary_path = Path(run_dir) / "summary.json"
    if int(os.environ.get("RANK", "0")) != 0 or not summary_path.is_file():
        return  # only rank 0 writes the summary
    summary = json.loads(summary_path.read_text())
    if summary.get("finished") is False:
        raise RunStopped(f"stopped at step {summary.get('steps')} of {summary.get('total_steps')}; its state is in "
                         f"{Path(run_dir) / 'state'}; continue with: nestling train {Path(run_dir) / 'recipe.yaml'} "
                         f"--resume {run_dir}")


def evaluate_path(model: Path, data: list[Path], *, out: Path | None = None, task_format: str = "auto",
                  group_by: str | None = None, fast: bool = False, revisions: str = "all",
                  batch_size: int = 64, device: str = "auto", seed: int = 0, trust_remote_code: bool = False) -> str:
    """Evaluate a model folder or every revision of a run; write results.json; return the table."""
    from nestling.evaluation import (evaluate_model, evaluate_run, format_table, is_run_dir, write_results,
                                     write_run_outputs)

    model = Path(model)
    if not model.exists():
        raise UserError(f"{model}: no such model or run folder")
    if out is not None and Path(out).is_dir():
        # Checked now, not after all the scoring.
        raise UserError(f"--out {out}: is a folder; --out names the results .json file to write")
    options = dict(task_format=task_format, group_by=group_by, fast=fast, batch_size=batch_size, device=device,
                   seed=seed, trust_remote_code=trust_remote_code)
    if is_run_dir(model):
        wanted = revisions if revisions in ("all", "final") else [r.strip() for r in revisions.split(",")]
        results = evaluate_run(model, data, revisions=wanted, **options)
        out = out or model / "results.json"
        write_run_outputs(results, out)
    else:
        results = evaluate_model(model, data, **options)
        if out is not None:
            write_results(results, out)
    return format_table(results) + (f"\n\nresults: {out}" if out else "")


def language_table(results: dict, revision: str = "final") -> str:
    """Per-language, per-phenomenon accuracy of one revision: the demo's closing table."""
    tasks = results["revisions"][revision]["tasks"] if "revisions" in results else results["tasks"]
    rows = ["| language | phenomenon | pairs | accuracy |", "|---|---|---:|---:|"]
    for task, res in tasks.items():
        lang = task.split("_")[0]
        for uid, cell in sorted(res["by_uid"].items()):
            rows.append(f"| {lang} | {uid} | {cell['n']} | {cell['acc']:.3f} |")
        rows.append(f"| {lang} | **mean over phenomena** | {res['n_items']} | **{res['macro_acc']:.3f}** |")
    return "\n".join(rows)


def run_demo(recipe_or_name="demo", overrides: list[str] | None = None, out_dir: Path | None = None) -> Path:
    """The main job on the built-in data: prepare, train, evaluate every checkpoint, print the table."""
    from nestling.evaluation import evaluate_run, format_table, write_run_outputs

    start = time.time()
    recipe = load_recipe(recipe_or_name, overrides)
    run_dir = prepare_and_train(recipe, out_dir=out_dir)
    check_finished(run_dir)
    eval_cfg = recipe["eval"]
    data = [p for d in eval_cfg["data"] for p in (builtin_pairs(recipe) if d == "builtin" else [Path(d)])]
    results = evaluate_run(run_dir, data, revisions=eval_cfg["revisions"], fast=eval_cfg["fast"],
                           batch_size=eval_cfg["batch_size"], seed=recipe["seed"])
    write_run_outputs(results, run_dir / "results.json")
    print("\nLearning curve (macro accuracy by revision):")
    print(format_table(results))
    print("\nZero-shot minimal pairs, final model (accuracy, random tie-break; chance = 0.5):")
    print(language_table(results))
    print(f"\nrun folder: {run_dir}\nwall-clock: {time.time() - start:.0f} s")
    return run_dir
