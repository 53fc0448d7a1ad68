"""The mixer the trainer talks to: which language each training sequence comes from.

A mixer holds a probability per language (pi), its own seeded RNG, the tokens each language has been
fed (exposures) and, optionally, a token budget per language. ``sample`` never draws a language whose
budget is spent: it renormalises pi over the languages still open and raises ``BudgetExhausted`` when
none is. Static methods never change pi; ``nestling.mixing.exp3.Exp3Mixer`` updates it from probe
losses. All state is plain JSON (the RNG state included), so a resumed run draws the same languages.
"""

from __future__ import annotations

import numpy as np

from nestling.errors import UserError

class BudgetExhausted(RuntimeError):
    """Every language that could be drawn has used its whole token budget: the run has no data left."""


def apply_floor(p: np.ndarray, floor: float) -> np.ndarray:
    """p <- f + (1 - K f) p: every entry at least f, still summing to 1 (needs K f <= 1)."""
    p = np.asarray(p, dtype=np.float64)
    K = len(p)
    if floor < 0 or K * floor > 1 + 1e-12:
        raise UserError(f"mixing.floor: need 0 <= floor <= 1/K = {1 / K:.4f} for {K} languages, got {floor}")
    return floor + (1.0 - K * floor) * p


def _rng_from_seed(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int(seed)))


class Mixer:
    """A static mixer: draws languages from a fixed pi. Base class of the adaptive ones."""

    adaptive = False

    def __init__(
        self,
        method: str,
        langs: list[str],
        pi: dict[str, float],
        seed: int,
        token_budgets: dict[str, int] | None = None,
        prior: dict | None = None,
        mix_interval: int | None = None,
    ):
        if not langs or len(set(langs)) != len(langs):
            raise UserError(f"mixing: languages must be distinct and non-empty, got {langs}")
        self.method = method
        self.langs = list(langs)
        self.pi_0 = {lang: float(pi[lang]) for lang in self.langs}
        self._pi = np.array([self.pi_0[lang] for lang in self.langs], dtype=np.float64)
        self.seed = int(seed)
        self.rng = _rng_from_seed(seed)
        self.prior = prior or {}
        # Static mixers never probe; None keeps them from carrying a second copy of the recipe default.
        self.mix_interval = int(mix_interval) if mix_interval is not None else 0
        if mix_interval is not None and self.mix_interval < 1:
            raise UserError(f"mixing.mix_interval must be >= 1, got {mix_interval}")
        self.budgets = None
        if token_budgets is not None:
            missing = [lang for lang in self.langs if lang not in token_budgets]
            if missing:
                raise UserError(f"mixing: no token budget for {', '.join(missing)}")
            self.budgets = {lang: int(token_budgets[lang]) for lang in self.langs}
        self._exposures = {lang: 0 for lang in self.langs}

    def probabilities(self) -> dict[str, float]:
        """The current policy pi (before any renormalisation over languages with budget left)."""
        return {lang: float(p) for lang, p in zip(self.langs, self._pi)}

    def _open(self, lang: str, pending: int, need: int) -> bool:
        if self.budgets is None:
            return True
        return self._exposures[lang] + pending + need <= self.budgets[lang]

    def sample(self, n: int, seq_tokens: int | None = None) -> list[str]:
        """Languages of the next ``n`` training sequences, drawn i.i.d. from pi over open languages.

        A language is open while its exposure is below its budget. Pass ``seq_tokens`` (tokens per
        sequence) to make that exact within one call too: the draws of this call then count as
        pending tokens, so a language is drawn only if ``exposure + pending + seq_tokens <= budget``.
        Always consumes exactly ``n`` uniforms from the RNG (inverse-CDF draws), so resumed runs match.
        """
        n = int(n)
        u = self.rng.random(n)
        need = int(seq_tokens) if seq_tokens is not None else 1
        open_ = [self._open(lang, 0, need) for lang in self.langs]
        if seq_tokens is None or all(not ok or self._open(lang, 0, n * need) for lang, ok in zip(self.langs, open_)):
            # No language can run out within this call: one vectorised inverse-CDF lookup.
            return [self.langs[i] for i in self._inverse_cdf(u, open_)]
        pending = {lang: 0 for lang in self.langs}
        out = []
        for x in u:
            i = int(self._inverse_cdf(np.array([x]), open_)[0])
            lang = self.langs[i]
            out.append(lang)
            pending[lang] += need
            open_[i] = self._open(lang, pending[lang], need)
        return out

    def _inverse_cdf(self, u: np.ndarray, open_: list[bool]) -> np.ndarray:
        """[n] uniforms -> [n] language indices under pi restricted to the open languages."""
        weights = np.where(open_, self._pi, 0.0)
        cdf = np.cumsum(weights)
        if not cdf[-1] > 0:
            raise BudgetExhausted(
                f"every language with positive probability has spent its token budget {self.budgets} "
                f"(exposures {self._exposures})"
            )
        # side='right' never lands on a zero-weight language; the clip guards u*total rounding up to total.
        idx = np.searchsorted(cdf, u * cdf[-1], side="right")
        return np.minimum(idx, int(np.flatnonzero(weights > 0)[-1]))

    def record_exposure(self, lang: str, tokens: int) -> None:
        """Count ``tokens`` more training tokens fed from ``lang``."""
        if lang not in self._exposures:
            raise KeyError(f"mixer has no language {lang!r} (languages: {self.langs})")
        if tokens < 0:
            raise ValueError(f"exposure must be >= 0 tokens, got {tokens}")
        self._exposures[lang] += int(tokens)

    def exposures(self) -> dict[str, int]:
        """Tokens fed per language so far."""
        return dict(self._exposures)

    def exhausted(self) -> list[str]:
        """Languages whose budget is spent (sample() no longer draws them)."""
        return [lang for lang in self.langs if not self._open(lang, 0, 1)]

    def needs_probe(self, step: int) -> bool:
        """Static mixers never need probe losses."""
        return False

    def update(self, step: int, probe_losses: dict[str, float]) -> dict:
        """Static: nothing to learn; returns the unchanged pi."""
        return {"pi": self.probabilities(), "rewards": {}}

    def state_dict(self) -> dict:
        """Everything needed to resume: plain JSON types only (RNG state as Python ints)."""
        return {
            "method": self.method,
            "langs": list(self.langs),
            "pi": [float(p) for p in self._pi],
            "exposures": dict(self._exposures),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output; the recipe must name the same method and languages."""
        if state.get("method") != self.method or list(state.get("langs", [])) != self.langs:
            raise UserError(
                f"mixer state is for method {state.get('method')!r} on {state.get('langs')}, "
                f"but the recipe asks for {self.method!r} on {self.langs}"
            )
        self._pi = np.array([float(p) for p in state["pi"]], dtype=np.float64)
        self._exposures = {lang: int(state["exposures"][lang]) for lang in self.langs}
        self.rng = np.random.Generator(np.random.PCG64())
        self.rng.bit_generator.state = state["rng"]

    def summary(self) -> dict:
        """For summary.json: method, final pi, exposures (per language and total), pi_0 and the prior."""
        return {
            "method": self.method,
            "final_pi": self.probabilities(),
            "exposures": self.exposures(),
            "total_exposure": int(sum(self._exposures.values())),
            "pi_0": dict(self.pi_0),
            "prior": self.prior,
            "token_budgets": dict(self.budgets) if self.budgets is not None else None,
            "exhausted": self.exhausted(),
        }

