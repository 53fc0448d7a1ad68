"""A model-free test bed for the mixer: synthetic loss curves, the real TAAM code.

Each language's probe loss follows L_l(n) = E_l + A_l * (1 + n / n_scale)^(-alpha_l) in the tokens
n it has been fed, plus Gaussian probe noise. The hardest language (Mandarin here) has the highest
floor E_l and the slowest curve. Every step the real mixer samples a micro-batch and records its
exposures; every ``steps_per_round`` steps the losses are "probed" and the mixer updates.

The derivation of what it shows, with its assumptions: docs/taam-v1-starvation.md.

What it shows: reward v1 (normalized excess loss) pays for *recent improvement*, which the hardest
language delivers least of, so EXP3 drives it to the floor; v2 (cross-lingual deficit) pays the
language that lags the best one, which keeps the hardest language fed.

Run it: ``nestling mix simulate --reward v1 --rounds 200 --out sim/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nestling.errors import UserError
from nestling.mixing import build_mixer
from nestling.mixing.rewards import canonical_reward

# name -> (E floor, A amplitude, alpha exponent); the hardest language has the highest floor E.
DEFAULT_CURVES = {
    "eng": (2.0, 4.0, 0.45),
    "nld": (2.3, 4.0, 0.40),
    "zho": (3.2, 2.5, 0.30),
}
N_SCALE = 1e5
ROUNDS = 300  # the default length of a simulation (``nestling mix simulate --rounds``)
# A language is starved when its final pi is within this of the least EXP3 gives any language.
STARVED_MARGIN = 0.01


def loss_curve(n: float, E: float, A: float, alpha: float) -> float:
    """L(n) = E + A (1 + n / N_SCALE)^(-alpha): starts at E + A, decays as a power law to E."""
    return E + A * (1.0 + n / N_SCALE) ** (-alpha)


def least_pi(gamma: float, floor: float, K: int) -> float:
    """The least probability EXP3 gives any language: the floor applied to the exploration share gamma / K."""
    return floor + (1.0 - K * floor) * gamma / K


def starved(result: dict) -> list[str]:
    """The languages a simulation left at (within ``STARVED_MARGIN`` of) the least probability EXP3 gives."""
    return [lang for lang in result["langs"] if result["final_pi"][lang] < result["least_pi"] + STARVED_MARGIN]


def run_simulation(
    reward: str,
    rounds: int = ROUNDS,
    seed: int = 0,
    out_dir: Path | None = None,
    curves: dict[str, tuple[float, float, float]] | None = None,
    steps_per_round: int = 10,
    batch: int = 16,
    seq_tokens: int = 512,
    noise: float = 0.02,
    mixing: dict | None = None,
) -> dict:
    """Simulate ``rounds`` TAAM rounds with reward v1 or v2; return the pi trajectory and final state.

    ``mixing`` overrides other keys of the TAAM mixing config (gamma, eta, floor, update...). With
    ``out_dir``, writes ``simulate_<reward>.png`` (pi over rounds) and ``simulate_<reward>.json``.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise UserError(f"--rounds must be a positive integer, got {rounds!r}")
    reward = canonical_reward(reward)
    curves = dict(curves or DEFAULT_CURVES)
    langs = list(curves)
    hardest = max(langs, key=lambda lang: curves[lang][0])
    # The simulator exercises TAAM: method, reward and probe interval are its own, whatever `mixing` says.
    from nestling.recipe import section

    cfg = section("mixing", **{**(mixing or {}), "method": "taam", "reward": reward, "mix_interval": steps_per_round})
    mixer = build_mixer(cfg, langs, {lang: 10**9 for lang in langs}, None, None, seed, None)
    noise_rng = np.random.default_rng(seed + 1)
    records = [{"kind": "mix", "step": 0, "round": 0, "pi": mixer.probabilities(), "rewards": {}, "probe_loss": {}}]
    step = 0
    for round_ in range(1, rounds + 1):
        for _ in range(steps_per_round):
            step += 1
            for lang in mixer.sample(batch, seq_tokens=seq_tokens):
                mixer.record_exposure(lang, seq_tokens)
        assert mixer.needs_probe(step)
        fed = mixer.exposures()
        losses = {
            lang: loss_curve(fed[lang], *curves[lang]) + float(noise_rng.normal(0.0, noise)) for lang in langs
        }
        out = mixer.update(step, losses)
        records.append({"kind": "mix", "step": step, "round": round_, **out, "probe_loss": losses})
    result = {
        "reward": reward,
        "rounds": rounds,
        "seed": seed,
        "langs": langs,
        "hardest": hardest,
        "curves": {lang: list(c) for lang, c in curves.items()},
        "floor": mixer.floor,
        "least_pi": least_pi(mixer.gamma, mixer.floor, len(langs)),
        "pi_0": mixer.pi_0,
        "final_pi": mixer.probabilities(),
        "exposures": mixer.exposures(),
        "final_loss": {lang: loss_curve(mixer.exposures()[lang], *curves[lang]) for lang in langs},
        "records": records,
    }
    if out_dir is not None:
        from nestling.mixing.plot import plot_pi

        out_dir = Path(out_dir)
        title = f"simulated TAAM, reward {reward}: hardest language {hardest}"
        result["plot"] = str(plot_pi(records, out_dir / f"simulate_{reward}.png", title=title, floor=mixer.floor))
        (out_dir / f"simulate_{reward}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def format_simulation(result: dict, rows: int = 10) -> str:
    """A table of pi (and each language's loss) every rounds/rows rounds, then the final state."""
    langs = result["langs"]
    records = result["records"]
    every = max(1, result["rounds"] // rows)
    head = f"{'round':>6}  " + "  ".join(f"{'pi_' + lang:>8}" for lang in langs)
    head += "  " + "  ".join(f"{'L_' + lang:>7}" for lang in langs)
    lines = [f"simulated TAAM, reward {result['reward']}, seed {result['seed']}; hardest language "
             f"{result['hardest']} (highest floor E); floor {result['floor']}", head]
    for rec in records:
        if rec["round"] % every and rec["round"] != result["rounds"]:
            continue
        losses = rec["probe_loss"]
        lines.append(
            f"{rec['round']:>6}  " + "  ".join(f"{rec['pi'][lang]:>8.4f}" for lang in langs) + "  "
            + "  ".join(f"{losses[lang]:>7.3f}" if lang in losses else f"{'-':>7}" for lang in langs)
        )
    total = sum(result["exposures"].values())
    lines.append("final pi: " + ", ".join(f"{lang} {result['final_pi'][lang]:.4f}" for lang in langs))
    lines.append("token share: " + ", ".join(f"{lang} {result['exposures'][lang] / total:.4f}" for lang in langs)
                 + f" (total {total:,} tokens)")
    hungry, hardest = starved(result), result["hardest"]
    verdict = "starved" if hardest in hungry else "not starved"
    lines.append(f"hardest language {hardest}: {verdict} (final pi {result['final_pi'][hardest]:.4f}; "
                 f"least pi EXP3 gives: {result['least_pi']:.4f}; starved: {', '.join(hungry) or 'none'})")
    if "plot" in result:
        lines.append(f"plot: {result['plot']}")
    return "\n".join(lines)
