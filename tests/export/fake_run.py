"""Build a small but contract-shaped run folder (docs/architecture.md) for the export tests.

Nothing here trains: tiny Llama checkpoints are saved straight from initialisation, and the metrics,
summary, ledger and results are synthetic numbers laid out exactly as the trainer and evaluator write
them. Every number is derived from ``seed`` so two runs differ and a Delta column has something to show.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import yaml

LANGS = ("eng", "nld", "zho")
CHECKPOINTS = (("chck_1M", 100), ("chck_2M", 200))  # (name, words seen: milestone_scale 1e-4)
FIELDS = ("morphology", "syntax", "semantics", "syntax_semantics")
_SENTENCES = [
    "the cat sat on the mat", "a dog runs in the park", "de kat zit op de mat", "een hond rent in het park",
    "小猫坐在垫子上", "小狗在公园里跑", "we like to read books", "wij lezen graag boeken",
    "我们喜欢看书",
]


def build_tokenizer():
    """A ~120-token byte-level BPE wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_SENTENCES * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama(tokenizer, seed: int):
    """A one-layer Llama small enough to save in milliseconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config)


def tiny_stream_mixer(tokenizer, seed: int):
    """A two-block Hybrid Stream Mixer (one attention block): a model that needs trust_remote_code."""
    import torch

    from nestling.models.stream_mixer import StreamMixerConfig, StreamMixerForCausalLM

    torch.manual_seed(seed)
    config = StreamMixerConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                               attention_layers=[1], n_streams=2, stream_dim=8, n_read_heads=1, num_attention_heads=2,
                               head_dim=8, chunk_size=4, max_position_embeddings=64,
                               bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                               pad_token_id=tokenizer.pad_token_id)
    return StreamMixerForCausalLM(config)


def save_checkpoint(model, tokenizer, folder: Path, name: str, words: int, tokens: int, step: int) -> Path:
    """A complete HF model folder plus checkpoint.json, as the trainer writes it."""
    import torch

    # Shift the embeddings so each checkpoint's weights differ and a wrong branch is detectable.
    with torch.no_grad():
        model.get_input_embeddings().weight.add_(0.01 * step)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "checkpoint.json").write_text(json.dumps(
        {"name": name, "words_seen": words, "tokens_seen": tokens, "step": step}))
    return folder


def _task_result(rng: random.Random, name: str, fmt: str, n_uids: int) -> dict:
    by_uid, by_field = {}, {}
    for i in range(n_uids):
        field = FIELDS[i % len(FIELDS)]
        acc = round(rng.uniform(0.45, 0.9), 4)
        by_uid[f"{name}_uid{i}"] = {"n": 10, "acc": acc, "acc_tie_credit": acc, "field": field, "term": f"term{i}"}
    for field in FIELDS:
        accs = [u["acc"] for u in by_uid.values() if u["field"] == field]
        if accs:
            mean = sum(accs) / len(accs)
            by_field[field] = {"n": 10 * len(accs), "n_uids": len(accs), "acc": mean, "acc_tie_credit": mean,
                               "weighted_acc": mean, "weighted_acc_tie_credit": mean}
    macro = sum(u["acc"] for u in by_uid.values()) / len(by_uid)
    return {"format": fmt, "files": [f"{name}.jsonl"], "n_items": 10 * n_uids, "n_uids": n_uids, "n_ties": 1,
            "macro_acc": macro, "weighted_acc": macro + 0.001,
            "macro_acc_tie_credit": macro, "weighted_acc_tie_credit": macro + 0.001,
            "by_uid": by_uid, "by_field": by_field if fmt == "blimp" else {}, "by_term": {}}


def _results(run_name: str, seed: int, revisions: list[tuple[str, int]]) -> dict:
    rng = random.Random(seed + 7)
    out = {"schema_version": 1, "run": run_name, "revisions": {}, "learning_curve": []}
    for rev, words in revisions:
        tasks = {"blimp": _task_result(rng, "blimp", "blimp", 8),
                 "blimp_nl": _task_result(rng, "blimp_nl", "blimp_nl", 3)}
        out["revisions"][rev] = {"schema_version": 1, "model": run_name, "revision": rev, "words_seen": words,
                                 "headline": "macro_acc", "headline_tie_rule": "random", "seed": seed,
                                 "fast": False, "scoring": "sum of token log-probs", "tasks": tasks}
        out["learning_curve"].append({"revision": rev, "words_seen": words,
                                      **{t: r["macro_acc"] for t, r in tasks.items()}})
    return out


def _metrics(seed: int, langs: tuple[str, ...], steps: int) -> list[dict]:
    rng = random.Random(seed)
    records, pi = [], {lang: 1 / len(langs) for lang in langs}
    for step in range(1, steps + 1):
        words, tokens = 10 * step, 12 * step
        lang_loss = {lang: round(6 * math.exp(-step / 20) + 1 + rng.random() * 0.1 + i * 0.2, 4)
                     for i, lang in enumerate(langs)}
        records.append({"kind": "train", "step": step, "loss": sum(lang_loss.values()) / len(langs),
                        "lang_loss": lang_loss,
                        "lr": {"muon": 0.02 * min(1, step / 5), "adamw": 0.003 * min(1, step / 5)},
                        "grad_norm": 1.0, "tokens": tokens, "words": words, "tokens_per_s": 1000.0,
                        "epochs": {lang: step / 100 for lang in langs}, "wall_s": step * 0.5})
        if step % 5 == 0:
            val = {lang: x + 0.1 for lang, x in lang_loss.items()}
            records.append({"kind": "val", "step": step, "words": words, "tokens": tokens,
                            "val_loss": sum(val.values()) / len(val), "val_lang_loss": val})
            if len(langs) > 1:
                rewards = {lang: round(rng.uniform(-1, 1), 3) for lang in langs}
                raw = {lang: pi[lang] * math.exp(0.2 * rewards[lang]) for lang in langs}
                pi = {lang: v / sum(raw.values()) for lang, v in raw.items()}
                records.append({"kind": "mix", "step": step, "words": words, "pi": pi, "rewards": rewards,
                                "probe_loss": val})
        for name, ck_words in CHECKPOINTS:
            if words == ck_words:
                records.append({"kind": "checkpoint", "step": step, "name": name, "words": words, "tokens": tokens})
    records.insert(3, {"kind": "skip", "step": 3, "reason": "non-finite loss"})
    return records


def _ledger(langs: tuple[str, ...], track: str) -> dict:
    per_lang = {lang: {"files": 1, "bytes": 5000 + i, "lines_kept": 100 + i, "lines_dropped": 3, "words": 1000 + 10 * i,
                       "english_word_equivalents": 1000 + 11 * i, "byte_premium": 1.0 + 0.1 * i,
                       "byte_target": 543000000, "sha256": f"{i}" * 64} for i, lang in enumerate(langs)}
    total = sum(v["words"] for v in per_lang.values())
    return {"track": track, "limit_words": 100_000_000, "word_rule": "whitespace-separated words; zho in characters",
            "allow_over_budget": False, "over_budget": False, "languages": per_lang, "files": [],
            "total_words": total, "budget_used": total / 100_000_000, "created": "2026-11-22T00:00:00Z",
            "nestling_version": "0.1.0"}


def make_run(root: Path, *, name: str = "demo", seed: int = 0, langs: tuple[str, ...] = LANGS,
             evaluated: bool = True, with_final: bool = True, model_factory=None, steps: int = 24) -> Path:
    """Write a finished run folder under ``root/name`` and return it.

    ``model_factory(tokenizer, seed)`` returns the model to save (default: a tiny Llama); pass
    ``evaluated=False`` to leave out results.json and ``with_final=False`` for an unfinished run.
    """
    run = root / name
    run.mkdir(parents=True)
    tokenizer = build_tokenizer()
    model = (model_factory or tiny_llama)(tokenizer, seed)
    arch = "llama" if model.config.model_type == "llama" else model.config.model_type
    track = "multilingual" if len(langs) > 1 else "strict-small"
    metrics = _metrics(seed, langs, steps)
    ck_steps = {r["name"]: r for r in metrics if r["kind"] == "checkpoint"}
    for ck_name, words in CHECKPOINTS:
        r = ck_steps[ck_name]
        save_checkpoint(model, tokenizer, run / "checkpoints" / ck_name, ck_name, words, r["tokens"], r["step"])
    last_train = [r for r in metrics if r["kind"] == "train"][-1]
    last_val = [r for r in metrics if r["kind"] == "val"][-1]
    if with_final:
        save_checkpoint(model, tokenizer, run / "final", "final", last_train["words"], last_train["tokens"], steps)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    (run / "ledger.json").write_text(json.dumps(_ledger(langs, track), indent=2))
    recipe = {"name": name, "method": "taam" if len(langs) > 1 else "single", "seed": seed,
              "model": {"arch": arch}, "optimizer": {"muon_lr": 0.02, "adamw_lr": 0.003, "weight_decay": 0.1},
              "checkpoints": {"milestone_scale": 0.0001}, "_source": "/somewhere/recipe.yaml"}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    mix_records = [r for r in metrics if r["kind"] == "mix"]
    exposures = {lang: 12 * steps * 4 // len(langs) + i for i, lang in enumerate(langs)}
    summary = {
        "name": name, "method": recipe["method"], "seed": seed, "arch": arch,
        "params": sum(p.numel() for p in model.parameters()), "steps": steps,
        "tokens_seen": last_train["tokens"], "words_seen": last_train["words"], "wall_clock_s": 3723.5 + seed,
        "final_val_loss": last_val["val_loss"], "final_val_ppl": math.exp(last_val["val_loss"]),
        "device": "cpu", "hardware": "1x test CPU",
        "optimizer": {"name": "muon+adamw", "muon_lr": 0.02, "adamw_lr": 0.003, "weight_decay": 0.1,
                      "betas": [0.9, 0.95]},
        "schedule": {"name": "wsd", "warmup_steps": 5, "decay_fraction": 0.2},
        "batch": {"sequences": 4, "seq_len": 3, "tokens_per_step": 12},
        "checkpoints": [n for n, _ in CHECKPOINTS], "skipped_steps": 1, "finished": with_final,
        "mixing": {"method": recipe["method"], "final_pi": mix_records[-1]["pi"] if mix_records else {langs[0]: 1.0},
                   "exposures": exposures, "total_exposure": sum(exposures.values()),
                   "pi_0": {lang: 1 / len(langs) for lang in langs}, "prior": {}},
    }
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    if evaluated:
        revisions = [(n, w) for n, w in CHECKPOINTS] + [("final", last_train["words"])]
        (run / "results.json").write_text(json.dumps(_results(name, seed, revisions), indent=2))
    return run
