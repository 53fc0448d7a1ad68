"""Batched log-probability scoring of (context, continuation) strings with a causal LM.

The rule is the official BabyLM pipeline's for causal models:
- the whole string context + continuation is tokenized once, with the tokenizer's default special
  tokens (a BOS when the tokenizer adds one);
- a token is scored when it is not special, is not the first token (inputs are shifted, so
  position 0 has no prediction) and its character span ends inside the continuation;
- the score is the plain sum of those tokens' log-probabilities (no length normalisation).

`score_texts` is the fast path, doing no work twice: identical strings are scored once; the
candidates of one item (a BLiMP pair, the five entity-tracking options) run their common token
prefix once and continue from its KV cache; the rest is sorted by length so each batch pads
little; logits are computed only where a scored token is predicted. `reference_score` is the
slow one-string-at-a-time reference the tests compare against.
"""

from __future__ import annotations

import hashlib
import inspect
import warnings
import weakref
from collections import OrderedDict
from contextlib import nullcontext

import numpy as np
import torch
from tqdm.auto import tqdm

from nestling.errors import UserError


def _scored_mask(offsets: list[tuple[int, int]], special: list[int], context_len: int) -> list[bool]:
    """Which tokens count: non-special, not first, ending after the continuation starts.

    The pipeline places the continuation start at len(context) plus the first token's start offset
    (0 for almost every tokenizer); kept so prefix-format numbers match it exactly.
    """
    start_char = context_len + (offsets[0][0] if offsets else 0)
    return [i > 0 and not special[i] and end > start_char for i, (_, end) in enumerate(offsets)]


def encode(tokenizer, requests: list[tuple[str, str]]) -> list[tuple[list[int], list[bool]]]:
    """Tokenize every context + continuation in one batched call -> (ids, scored mask) each."""
    texts = [context + continuation for context, continuation in requests]
    if not texts:
        return []
    if not getattr(tokenizer, "is_fast", False):
        return [_encode_slow(tokenizer, context, continuation) for context, continuation in requests]
    enc = tokenizer(texts, return_offsets_mapping=True, return_special_tokens_mask=True)
    out = []
    for ids, offsets, special, (context, _) in zip(
        enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"], requests
    ):
        out.append((list(ids), _scored_mask([tuple(o) for o in offsets], special, len(context))))
    return out


# The revisions of a run share one tokenizer: a suite's requests are tokenized once, not per revision.
_ENCODED: OrderedDict = OrderedDict()  # (tokenizer fingerprint, requests) -> encode's rows; the last few
_ENCODED_KEPT = 4


def tokenizer_fingerprint(tokenizer) -> str:
    """Equal for tokenizers that tokenize alike (their full serialised form); unique otherwise."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"object {id(tokenizer)}"
    return hashlib.sha256(f"{type(tokenizer).__name__}\0{text}".encode()).hexdigest()


def encode_once(tokenizer, requests: list[tuple[str, str]]) -> list[tuple[list[int], list[bool]]]:
    """``encode``, remembered for the last few (tokenizer, requests): callers must not change the rows."""
    key = (tokenizer_fingerprint(tokenizer), tuple(requests))
    if key in _ENCODED:
        _ENCODED.move_to_end(key)
        return _ENCODED[key]
    _ENCODED[key] = encode(tokenizer, requests)
    while len(_ENCODED) > _ENCODED_KEPT:
        _ENCODED.popitem(last=False)
    return _ENCODED[key]


def _encode_slow(tokenizer, context: str, continuation: str) -> tuple[list[int], list[bool]]:
    """Tokenizers without offsets: the continuation is what follows the context's own tokens."""
    enc = tokenizer(context + continuation, return_special_tokens_mask=True)
    ids, special = list(enc["input_ids"]), enc["special_tokens_mask"]
    n_context = len(tokenizer(context, add_special_tokens=False)["input_ids"]) if context else 0
    content = [i for i, s in enumerate(special) if not s]
    scored_positions = set(content[n_context:])
    return ids, [i > 0 and i in scored_positions for i in range(len(ids))]


def _batches(lengths: list[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped longest first; a batch holds at most batch_size rows and max_tokens padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current = [], []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        if current and (len(current) >= batch_size or (len(current) + 1) * width > max_tokens):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def _pad(rows: list[tuple[list[int], list[bool]]], device: torch.device):
    """Right-padded ids [B, T], attention mask [B, T] and scored mask [B, T] (padding never scored)."""
    B, T = len(rows), max(len(ids) for ids, _ in rows)
    input_ids = torch.zeros((B, T), dtype=torch.long)
    attention = torch.zeros((B, T), dtype=torch.long)
    scored = torch.zeros((B, T), dtype=torch.bool)
    for b, (ids, mask) in enumerate(rows):
        input_ids[b, : len(ids)] = torch.tensor(ids)
        attention[b, : len(ids)] = 1
        scored[b, : len(ids)] = torch.tensor(mask)
    return input_ids.to(device), attention.to(device), scored.to(device)


def _split_head(model):
    """(decoder body, output projection) when the model exposes the standard HF pair, else None."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    body = getattr(model, "base_model", None)
    if head is None or body is None or body is model:
        return None
    return body, head


# Per model: what the first batch verified ({"split": bool, "shared": bool}), so that scoring the
# same model again (one task after another, a benchmark loop) does not repeat the checks.
_VERIFIED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class FastPathOff(RuntimeWarning):
    """A scoring fast path was turned off for a model (scores stay exact, only slower)."""


def _fast_path_off(model, path: str, reason: str) -> None:
    """Say once per model (the verdict is cached in _VERIFIED) which fast path is off, and why."""
    warnings.warn(f"{type(model).__name__}: {path} scoring turned off ({reason}); scoring the plain way, "
                  "which gives the same scores more slowly", FastPathOff, stacklevel=3)


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(target) per row of logits [N, V] (fp32), without materialising the log-softmax."""
    logits = logits.float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def cache_argument(module) -> str:
    """The keyword a model's forward takes its cache under: "cache" from transformers 5.24 (where
    "past_key_values" is deprecated), "past_key_values" before."""
    forward = getattr(module, "forward", module)
    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _output_cache(out):
    """The cache a forward returned, under either name (5.24's ModelOutput field is "cache")."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


class BatchScorer:
    """Sums of scored-token log-probs, one padded batch (or one shared-prefix batch) at a time.

    Fast path: run the decoder body once, then apply the output projection and the log-softmax
    normaliser only at the positions that predict a scored token (no logits for padding, for the
    last position or for the context), in chunks of ``chunk`` positions so memory stays
    chunk x vocab. The first batch is checked against the model's own full logits; a model whose
    logits are more than lm_head(hidden) (soft-capping, scaling) falls back to full logits.
    With ``greedy=True`` each call also leaves in ``last_greedy`` whether every scored token of a
    row is the argmax of its prediction (lm-eval's is_greedy), in the order of the returned sums.
    """

    CHECK_ROWS = 4  # rows of the first batch compared with the model's full logits
    CHECK_GROUPS = 2  # groups of the first shared-prefix batch compared with the plain path

    def __init__(self, model, device: torch.device, autocast, chunk: int = 4096, greedy: bool = False):
        self.model, self.device, self.autocast, self.chunk = model, device, autocast, chunk
        self.greedy, self.last_greedy = greedy, None
        # The checks look for structural differences (soft-capped logits, a cache that shifts
        # positions), which are large; bf16 rounding alone must not trip them.
        self.tol = 1e-4 if isinstance(autocast, nullcontext) else 5e-2
        self.verified = _VERIFIED.setdefault(model, {})
        self.split = _split_head(model) if self.verified.get("split", True) else None
        self.checked = self.split is None or "split" in self.verified
        self._cache_keyword: str | None = None

    def _forward(self, input_ids, attention, past=None, want_cache=False):
        """Hidden states [B, T, D] (split path) or logits [B, T, V], and the KV cache when asked."""
        module = self.split[0] if self.split is not None else self.model
        kwargs = {"input_ids": input_ids, "attention_mask": attention, "use_cache": want_cache or past is not None}
        if past is not None:
            if self._cache_keyword is None:  # read the forward's signature once per scorer, not per batch
                self._cache_keyword = cache_argument(module)
            kwargs[self._cache_keyword] = past
        with self.autocast:
            out = module(**kwargs)
        states = out[0] if self.split is not None else out.logits
        return states, (_output_cache(out) if kwargs["use_cache"] else None)

    def _logprobs(self, states, rows_idx, pos, targets) -> torch.Tensor:
        """log p(targets) [N] from the states at (rows_idx, pos), chunk by chunk.

        With greedy tracking, ``self._hits`` is set to whether each target is its row's argmax [N].
        """
        out, hits = [], []
        for c in range(0, len(rows_idx), self.chunk):
            selected = states[rows_idx[c: c + self.chunk], pos[c: c + self.chunk]]
            with self.autocast:
                logits = self.split[1](selected) if self.split is not None else selected
            out.append(_token_logprobs(logits, targets[c: c + self.chunk]))
            if self.greedy:
                hits.append(logits.argmax(-1) == targets[c: c + self.chunk])
        if self.greedy:
            self._hits = torch.cat(hits) if hits else torch.zeros(0, dtype=torch.bool, device=self.device)
        return torch.cat(out) if out else torch.zeros(0, device=self.device)

    def _misses(self, n: int, idx: torch.Tensor, counted: torch.Tensor | None = None) -> torch.Tensor:
        """Per row (of n): how many of the last _logprobs call's targets were not the argmax."""
        miss = ~self._hits if counted is None else (~self._hits & counted)
        return torch.zeros(n, dtype=torch.long, device=self.device).index_add_(0, idx, miss.long())

    def _check_split(self, input_ids, attention, states, rows_idx, pos):
        """Once: does lm_head(hidden) reproduce the model's logits? If not, use full logits from now on."""
        self.checked = True
        # A few rows suffice (the check looks for a structural difference): each revision of a run
        # is a new model and pays this extra forward pass, so it stays small.
        few = self.CHECK_ROWS
        keep = (rows_idx < few).nonzero(as_tuple=True)[0][: self.chunk]
        rows_idx, pos = rows_idx[keep], pos[keep]
        with self.autocast:
            ours = self.split[1](states[rows_idx, pos]).float()
            full = self.model(input_ids=input_ids[:few], attention_mask=attention[:few], use_cache=False).logits
        same = full[rows_idx, pos].shape == ours.shape and torch.allclose(full[rows_idx, pos].float(), ours,
                                                                          atol=self.tol, rtol=self.tol)
        self.verified["split"] = same
        if not same:
            _fast_path_off(self.model, "lm_head-only-at-scored-positions",
                           "the model's logits are not its output layer applied to the last hidden state")
            self.split = None
            with self.autocast:
                return self.model(input_ids=input_ids, attention_mask=attention, use_cache=False).logits
        return states

    def __call__(self, rows: list[tuple[list[int], list[bool]]]) -> np.ndarray:
        input_ids, attention, scored = _pad(rows, self.device)
        # log p(token t | tokens < t) comes from position t - 1.
        rows_idx, pos = torch.nonzero(scored[:, 1:], as_tuple=True)  # N scored tokens
        states, _ = self._forward(input_ids, attention)
        if not self.checked:
            states = self._check_split(input_ids, attention, states, rows_idx, pos)
        token_lp = self._logprobs(states, rows_idx, pos, input_ids[rows_idx, pos + 1])
        sums = torch.zeros(len(rows), dtype=torch.float64, device=self.device)
        sums.index_add_(0, rows_idx, token_lp.double())
        if self.greedy:
            self.last_greedy = (self._misses(len(rows), rows_idx) == 0).cpu().numpy()
        return sums.detach().cpu().numpy()

    def probs_at(self, seqs: list[list[int]], rows: list[int], pos: list[int], targets: list[int]) -> np.ndarray:
        """softmax(logits at seqs[rows[i]][pos[i]])[targets[i]] (fp32, as the official reading code), float64 [N].

        One forward pass over the right-padded batch ``seqs``; any token may be asked for at any
        position (the reading task asks for words that are not the sequence's own next token).
        """
        input_ids, attention, _ = _pad([(s, [False] * len(s)) for s in seqs], self.device)
        rows_idx = torch.tensor(rows, dtype=torch.long, device=self.device)
        pos_idx = torch.tensor(pos, dtype=torch.long, device=self.device)
        target_idx = torch.tensor(targets, dtype=torch.long, device=self.device)
        states, _ = self._forward(input_ids, attention)
        if not self.checked:
            states = self._check_split(input_ids, attention, states, rows_idx, pos_idx)
        out = []
        for c in range(0, len(rows), self.chunk):
            selected = states[rows_idx[c: c + self.chunk], pos_idx[c: c + self.chunk]]
            with self.autocast:
                logits = self.split[1](selected) if self.split is not None else selected
            probs = torch.softmax(logits.float(), dim=-1)
            out.append(probs.gather(-1, target_idx[c: c + self.chunk].unsqueeze(-1)).squeeze(-1))
        return torch.cat(out).double().cpu().numpy() if out else np.zeros(0)

    def shared(self, prefix_len: int, groups: list[list[tuple[list[int], list[bool]]]]) -> list[np.ndarray]:
        """Score groups of sequences that share their first ``prefix_len`` tokens (and scored mask).

        The prefix runs once per group; each member's remaining tokens run on a copy of the
        prefix's KV cache. Returns each group's member sums. Sequences are longer than the prefix.
        """
        P, G = prefix_len, len(groups)
        prefix = torch.tensor([members[0][0][:P] for members in groups], device=self.device)  # G, P
        prefix_mask = torch.tensor([members[0][1][:P] for members in groups], device=self.device)
        members = [m for group in groups for m in group]
        owner = torch.tensor([g for g, group in enumerate(groups) for _ in group], device=self.device)  # R
        suffix_ids, suffix_att, suffix_scored = _pad([(ids[P:], mask[P:]) for ids, mask in members], self.device)

        states, cache = self._forward(prefix, torch.ones_like(prefix), want_cache=True)
        # Scored prefix tokens (shared by the group's members) ...
        g_idx, t_idx = torch.nonzero(prefix_mask[:, 1:], as_tuple=True)
        prefix_lp = self._logprobs(states, g_idx, t_idx, prefix[g_idx, t_idx + 1])
        prefix_sums = torch.zeros(G, dtype=torch.float64, device=self.device).index_add_(0, g_idx, prefix_lp.double())
        misses = self._misses(G, g_idx)[owner] if self.greedy else None
        # ... each member's first own token, predicted by the prefix's last position ...
        last = torch.full_like(owner, P - 1)
        first_lp = self._logprobs(states, owner, last, suffix_ids[:, 0]) * suffix_scored[:, 0]
        if self.greedy:
            misses += self._misses(len(members), torch.arange(len(members), device=self.device), suffix_scored[:, 0])
        # ... and the rest of each member, run on its copy of the prefix cache.
        cache.batch_select_indices(owner)
        attention = torch.cat([torch.ones((len(members), P), dtype=torch.long, device=self.device), suffix_att], 1)
        states, _ = self._forward(suffix_ids, attention, past=cache)
        r_idx, s_pos = torch.nonzero(suffix_scored[:, 1:], as_tuple=True)
        suffix_lp = self._logprobs(states, r_idx, s_pos, suffix_ids[r_idx, s_pos + 1])
        sums = (prefix_sums[owner] + first_lp.double()).index_add_(0, r_idx, suffix_lp.double())
        sums = sums.detach().cpu().numpy()
        if self.greedy:
            self.last_greedy = ((misses + self._misses(len(members), r_idx)) == 0).cpu().numpy()
        out, start = [], 0
        for group in groups:
            out.append(sums[start: start + len(group)])
            start += len(group)
        return out


def plan_shared_prefixes(encoded: list[tuple[list[int], list[bool]]], groups: list[list[int]],
                         min_prefix: int = 4) -> dict[int, list[list[int]]]:
    """Prefix length -> groups of sequence indices whose first tokens (and scored masks) agree.

    A group is kept when its members share at least ``min_prefix`` tokens; the prefix stops one
    token short of the shortest member so every member has a token of its own after it. Each
    sequence joins at most one group; the rest is scored the plain way.
    """
    assigned: set[int] = set()
    plan: dict[int, list[list[int]]] = {}
    for group in groups:
        members = [m for m in dict.fromkeys(group) if m not in assigned]
        if len(members) < 2:
            continue
        seqs = [encoded[m] for m in members]
        limit = min(len(ids) for ids, _ in seqs) - 1
        first_ids, first_mask = seqs[0]
        p = 0
        while p < limit and all(ids[p] == first_ids[p] and mask[p] == first_mask[p] for ids, mask in seqs[1:]):
            p += 1
        if p >= min_prefix:
            plan.setdefault(p, []).append(members)
            assigned.update(members)
    return plan


def _shared_batches(plan: dict[int, list[list[int]]], lengths: list[int], batch_size: int,
                    max_tokens: int) -> list[tuple[int, list[list[int]]]]:
    """Batches of groups with one prefix length each, longest suffixes first, within both caps."""
    batches = []
    for p in sorted(plan, reverse=True):
        groups = sorted(plan[p], key=lambda g: -max(lengths[m] for m in g))
        current, rows = [], 0
        for group in groups:
            width = max(lengths[m] for m in (current[0] if current else group)) - p
            if current and (rows + len(group) > batch_size or (rows + len(group)) * (width + p) > max_tokens):
                batches.append((p, current))
                current, rows = [], 0
            current.append(group)
            rows += len(group)
        if current:
            batches.append((p, current))
    return batches


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; a device torch does not know, or CUDA without one, is refused."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"--device {device}: not a device; use auto, cpu, cuda or cuda:N") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is visible; use --device cpu or auto")
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {device}: nestling evaluates on cpu, cuda or mps, not {chosen.type}")
    return chosen


def _split_work(encoded, lengths: list[int], groups: list[list[int]], batch_size: int, max_tokens: int):
    """(shared-prefix batches, indices left for the plain path)."""
    plan = plan_shared_prefixes(encoded, groups)
    # Batches need one prefix length; a length with little work behind it would make small, slow
    # batches (per-forward overhead), so those sequences go the plain way.
    plan = {p: g for p, g in plan.items() if sum(lengths[m] for members in g for m in members) >= 1024}
    in_shared = {m for groups_p in plan.values() for group in groups_p for m in group}
    plain_ids = [i for i in range(len(encoded)) if i not in in_shared]
    return _shared_batches(plan, lengths, batch_size, max_tokens), plain_ids


def score_texts(model, tokenizer, requests: list[tuple[str, str]], *, groups: list[list[int]] | None = None,
                batch_size: int = 64, max_tokens: int = 16384, device: str | torch.device | None = None,
                precision: str = "fp32", share_prefixes: bool = True, progress: bool = True) -> np.ndarray:
    """Summed continuation log-probs for each (context, continuation) request, float64 [N].

    Identical requests are scored once. ``groups`` (lists of request indices, e.g. one item's
    candidates) lets requests that begin with the same tokens share one forward pass over that
    prefix (KV cache); checked against the plain path on the first batch, and turned off for a
    model whose cache does not reproduce it. ``batch_size`` caps strings per forward pass and
    ``max_tokens`` padded tokens per pass. ``precision="bf16"`` runs the model under CUDA bf16
    autocast (the log-softmax stays fp32).
    """
    unique: dict[tuple[str, str], int] = {}
    index = np.array([unique.setdefault(r, len(unique)) for r in requests], dtype=np.int64)
    encoded = encode_once(tokenizer, list(unique))
    unique_groups = [[int(index[r]) for r in group] for group in groups] if groups and share_prefixes else []
    sums = score_encoded(model, encoded, groups=unique_groups, batch_size=batch_size, max_tokens=max_tokens,
                         device=device, precision=precision, progress=progress)
    return sums[index] if len(requests) else np.zeros(0)


def score_encoded(model, encoded: list[tuple[list[int], list[bool]]], *, groups: list[list[int]] | None = None,
                  batch_size: int = 64, max_tokens: int = 16384, device: str | torch.device | None = None,
                  precision: str = "fp32", progress: bool = True, greedy: bool = False):
    """The scoring core under ``score_texts``: summed scored-token log-probs of tokenized rows.

    ``encoded``: (token ids, scored mask) per row, as ``encode`` makes them (position 0 is never
    scored). ``groups``: row indices that may share a prefix forward pass. Rows are not
    deduplicated here. Returns float64 [N]; with ``greedy=True`` also bool [N]: every scored
    token is the argmax of its prediction (lm-eval's is_greedy).
    """
    if precision not in ("fp32", "bf16"):
        raise UserError(f"unknown precision {precision!r}; choose fp32 or bf16")
    device = resolve_device(device) if device is not None else next(model.parameters()).device
    lengths = [len(ids) for ids, _ in encoded]
    sums = np.zeros(len(encoded), dtype=np.float64)
    flags = np.zeros(len(encoded), dtype=bool) if greedy else None
    use_bf16 = precision == "bf16" and device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else nullcontext()
    shared, plain_ids = _split_work(encoded, lengths, groups or [], batch_size, max_tokens)
    plain = _batches([lengths[i] for i in plain_ids], batch_size, max_tokens)
    model.eval()
    scorer = BatchScorer(model, device, autocast, greedy=greedy)
    bar = tqdm(total=len(shared) + len(plain), desc="scoring", unit="batch", disable=not progress, leave=False)
    with torch.inference_mode():
        leftover = _run_shared(scorer, shared, encoded, sums, flags, bar)
        if leftover:  # the model's cache did not reproduce the plain path: score those plainly
            plain_ids += [m for _, batch in leftover for group in batch for m in group]
            plain = _batches([lengths[i] for i in plain_ids], batch_size, max_tokens)
            bar.total = len(shared) - len(leftover) + len(plain)
        for batch in plain:
            members = [plain_ids[i] for i in batch]
            sums[members] = scorer([encoded[i] for i in members])
            if greedy:
                flags[members] = scorer.last_greedy
            bar.update()
    bar.close()
    return (sums, flags) if greedy else sums


def _run_shared(scorer: BatchScorer, batches, encoded, sums: np.ndarray, flags: np.ndarray | None, bar) -> list:
    """Score the shared-prefix batches into ``sums`` (and greedy ``flags``); returns the batches left
    for the plain path.

    The model's first shared batch is also scored the plain way: if the cached path disagrees
    (or the model has no usable cache), shared batches go back to the plain path for good.
    """
    if scorer.verified.get("shared") is False:
        return batches
    for n, (p, batch) in enumerate(batches):
        rows = [[encoded[m] for m in group] for group in batch]
        try:
            group_sums = scorer.shared(p, rows)
        except (TypeError, ValueError, RuntimeError, AttributeError, IndexError) as err:
            # A model without a usable cache (remote code missing a method, a forward without
            # past_key_values) fails here in one of these ways; anything else is a bug and propagates.
            scorer.verified["shared"] = False
            _fast_path_off(scorer.model, "shared-prefix (KV cache)", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
            return batches[n:]
        group_flags = scorer.last_greedy
        if "shared" not in scorer.verified:
            # A few groups suffice (a cache that shifts positions is off everywhere); every revision
            # is a new model and pays this plain pass, so it stays small.
            checked = batch[: BatchScorer.CHECK_GROUPS]
            plain = scorer([encoded[m] for group in checked for m in group])
            same = np.allclose(np.concatenate(group_sums[: len(checked)]), plain, atol=scorer.tol, rtol=0)
            scorer.verified["shared"] = bool(same)
            if not scorer.verified["shared"]:
                _fast_path_off(scorer.model, "shared-prefix (KV cache)",
                               "continuing from the cached prefix does not reproduce the plain scores")
                return batches
        members = [m for group in batch for m in group]
        sums[members] = np.concatenate(group_sums)
        if flags is not None:
            flags[members] = group_flags
        bar.update()
    return []


def reference_score(model, tokenizer, context: str, continuation: str) -> float:
    """Slow reference: one string, one forward pass, a plain loop over the scored tokens."""
    (ids, mask), = encode(tokenizer, [(context, continuation)])
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids], device=device)).logits[0].float()
    total = 0.0
    for t in range(1, len(ids)):
        if mask[t]:
            total += float(torch.log_softmax(logits[t - 1], dim=-1)[ids[t]])
    return total


# Candidates whose batched scores lie this close are decided again as the official code scores
# them: batching and prefix sharing move float sums by ~1e-5 nats, enough to flip such a near-tie.
NEAR_TIE_NATS = 1e-4


def official_sum(model, ids: list[int], mask: list[bool]) -> float:
    """One candidate as the official strict pipeline scores it: the sequence alone (no padding),
    the model's own logits in float32, a full log-softmax, the scored tokens' log-probs summed in
    float32 (``sum(target_log_probs * phrase_mask)``)."""
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    with torch.inference_mode():
        logits = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids)).logits[0, :-1].float()
        token_lp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[0, 1:, None]).squeeze(-1)
        scored = torch.tensor(mask[1:], device=device, dtype=torch.float32)
        return float((token_lp * scored).sum())


def settle_near_ties(model, tokenizer, requests: list[tuple[str, str]], scores: np.ndarray,
                     items: list[list[int]], tol: float = NEAR_TIE_NATS) -> list[int]:
    """Rescore, in place, the best two candidates of every item whose batched scores lie within
    ``tol`` nats, each alone as the official code does (``official_sum``). Returns the items that
    took this path."""
    settled = []
    for n, item in enumerate(items):
        if len(item) < 2:
            continue
        best, second = sorted(item, key=lambda i: -scores[i])[:2]
        if scores[best] - scores[second] > tol:
            continue
        for i, (ids, mask) in zip((best, second), encode(tokenizer, [requests[best], requests[second]])):
            scores[i] = official_sum(model, ids, mask)
        settled.append(n)
    return settled
