"""The recipe's prepared dataset folder: where it is (or where the built-in data goes), whether it is
ready, and preparing it (ledger -> tokenizer -> shards) when it is not.

Under torchrun only rank 0 prepares; the other ranks wait until the folder is ready.
"""

from __future__ import annotations

import time
from pathlib import Path

from nestling import launch
from nestling.errors import UserError

READY_TIMEOUT_S = 3600


def builtin_root(recipe) -> Path:
    """One folder per distinct built-in dataset, so a changed size or seed never reuses stale data."""
    data = recipe["data"]
    langs = "-".join(data["builtin_langs"])
    name = f"builtin-{langs}-w{data['builtin_words']}-s{recipe['seed']}-v{recipe['tokenizer']['vocab_size']}"
    return Path(data["builtin_root"]) / name


def builtin_pairs(recipe) -> list[Path]:
    """The built-in minimal-pair files of the recipe's languages (``eval.data: [builtin]``)."""
    root = builtin_root(recipe) / "pairs"
    return [root / f"{lang}_pairs.jsonl" for lang in recipe["data"]["builtin_langs"]]


def dataset_ready(dataset: Path, langs: list[str] | None) -> bool:
    """A tokenizer and shards for every language asked for (any language when ``langs`` is None)."""
    if not (dataset / "tokenizer" / "tokenizer.json").is_file():
        return False
    shards = dataset / "shards"
    have = {p.name for p in shards.iterdir() if (p / "meta.json").is_file()} if shards.is_dir() else set()
    return bool(have) and (langs is None or set(langs) <= have)


def wait_for_dataset(dataset: Path, langs: list[str] | None, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Under torchrun only rank 0 prepares data; the other ranks poll until its shards are there."""
    start = time.time()
    while not dataset_ready(dataset, langs):
        if time.time() - start > timeout_s:
            raise UserError(f"{dataset}: rank 0 did not finish preparing the data in {timeout_s:.0f} s")
        time.sleep(2)


def prepare_folder(dataset: Path, sources: dict, recipe) -> None:
    """Ledger (unless present), tokenizer and shards for ``sources``, printing each step's table."""
    from nestling.data.prepare import prepare_dataset, summary_table
    from nestling.data.tokenize import tokenize_dataset, tokenize_table
    from nestling.data.tokenizer import fertility_table, train_tokenizer

    data = recipe["data"]
    if not (dataset / "ledger.json").is_file():
        ledger = prepare_dataset(
            sources, dataset, data["track"], fmt=data["format"], keep_child=data["keep_child"],
            on_bad_line=data["on_bad_line"], allow_over_budget=data["allow_over_budget"],
            allow_drops=data["allow_drops"],
        )
        print(summary_table(ledger))
    tok = recipe["tokenizer"]
    print(fertility_table(train_tokenizer(dataset, vocab_size=tok["vocab_size"], balance_languages=tok["balance_languages"])))
    print(tokenize_table(tokenize_dataset(dataset)))


def ensure_dataset(recipe) -> Path:
    """The recipe's prepared dataset folder, preparing it first (built-in or raw sources) when missing."""
    from nestling.data.generator import write_builtin_data

    data = recipe["data"]
    # A language's source is one path or a list of them (files or folders).
    sources = {lang: [Path(p) for p in (paths if isinstance(paths, list) else [paths])]
               for lang, paths in data["sources"].items()}
    if data["dir"] is None and sources:
        raise UserError("data.sources needs data.dir: the folder to write the prepared dataset to")
    if sources:
        dataset, langs = Path(data["dir"]), list(sources)
    elif data["dir"] is not None:
        dataset, langs = Path(data["dir"]), None
        if not dataset_ready(dataset, None):
            raise UserError(f"{dataset}: not a prepared dataset (needs tokenizer/ and shards/); "
                            "run `nestling data prepare`, `nestling tokenizer train`, `nestling data tokenize`")
    else:
        root = builtin_root(recipe)
        dataset, langs = root / "dataset", list(data["builtin_langs"])
        sources = {lang: [root / "raw" / lang] for lang in langs}
    if dataset_ready(dataset, langs):
        return dataset
    if launch.ranks().rank != 0:
        wait_for_dataset(dataset, langs)
        return dataset
    if data["dir"] is None:
        print(write_builtin_data(root, data["builtin_words"], recipe["seed"], langs, data["builtin_pairs"]))
    prepare_folder(dataset, sources, recipe)
    return dataset
