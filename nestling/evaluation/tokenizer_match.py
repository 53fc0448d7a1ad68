"""Does a model folder's tokenizer fit its model? Checked before scoring (eval) or fine-tuning (finetune).

"Match" means, precisely, comparing the tokenizer with the model's config (``config.json``):

1. Every id fits: ``len(tokenizer)`` (added tokens included) is at most ``vocab_size``. Otherwise
   scoring would index past the embedding: always refused.
2. No foreign vocabulary: the model has at most ``max(PAD_ROWS, PAD_SHARE x vocab_size)`` rows more
   than the tokenizer has ids. Models pad their embedding for speed (Pythia: 50,304 rows for 50,277
   ids; nestling pads none); a tokenizer far smaller than the model is another dataset's.
3. Special ids agree: each of BOS, EOS and PAD that both the tokenizer and the config name has the
   same id (a config's list of EOS ids must contain the tokenizer's).

2 and 3 are refused unless the user asks (``--allow-tokenizer-mismatch``). Not detectable here: two
tokenizers of the same size with different tokens (a nestling run folder carries the tokenizer its
model trained with, so a run's own revisions are safe).
"""

from __future__ import annotations

from nestling.errors import UserError

PAD_ROWS = 128
PAD_SHARE = 0.01


def mismatches(config: dict, tokenizer) -> list[str]:
    """What does not match (rules 2 and 3), as short phrases; UserError for rule 1."""
    vocab = config.get("vocab_size")
    if isinstance(vocab, bool) or not isinstance(vocab, int):
        return []  # nothing to compare (a config that nests its text model's settings)
    n_ids = len(tokenizer)
    if n_ids > vocab:
        raise UserError(f"the tokenizer has {n_ids} tokens but the model only {vocab} "
                        "(tokenizer and weights come from different runs)")
    found = []
    if vocab - n_ids > max(PAD_ROWS, PAD_SHARE * vocab):
        found.append(f"the tokenizer has {n_ids:,} ids, the model {vocab:,} rows")
    for name in ("bos", "eos", "pad"):
        token_id, config_id = getattr(tokenizer, f"{name}_token_id", None), config.get(f"{name}_token_id")
        if token_id is None or config_id is None:
            continue
        if token_id not in (config_id if isinstance(config_id, list) else [config_id]):
            found.append(f"{name} id {token_id} in the tokenizer, {config_id} in config.json")
    return found


def check_tokenizer(location, config: dict, tokenizer, allow_mismatch: bool = False) -> None:
    """Refuse a tokenizer that does not match its model (see the module's rules) in one line."""
    try:
        found = mismatches(config, tokenizer)
    except UserError as err:
        raise UserError(f"{location}: {err}") from None
    if found and not allow_mismatch:
        raise UserError(f"{location}: the tokenizer does not match the model ({'; '.join(found)}); another "
                        "dataset's tokenizer? pass --allow-tokenizer-mismatch to use it anyway")
