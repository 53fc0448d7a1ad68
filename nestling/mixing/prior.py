"""Typological prior over languages from URIEL (lang2vec): the more isolated a language, the more data.

Recipe: concatenate the lang2vec feature sets (default ``syntax_knn``, ``phonology_knn``,
``inventory_knn``) per language; drop any feature unknown in any of the languages; take pairwise
cosine distances; the isolation score s_l is the mean distance to the other languages;
pi_0 = softmax(s / T), then the floor p <- f + (1 - K f) p so no language starts below f.

A reconstruction: the TAAM card says the prior is typological (URIEL) and gives no formula, feature set,
temperature or floor; these are nestling's choices, with their reasons in docs/reconstructions.md.

lang2vec takes seconds to import and loads large arrays, so the raw feature vectors are cached in a
JSON file (``$NESTLING_CACHE_DIR/uriel_features.json``, default ``~/.cache/nestling``): after the
first query for a language and feature set, neither later calls nor later runs import lang2vec.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from nestling.errors import UserError
from nestling.files import write_atomic
from nestling.mixing.base import apply_floor

DEFAULT_FEATURES = ("syntax_knn", "phonology_knn", "inventory_knn")
DEFAULT_TEMPERATURE = 0.5
DEFAULT_FLOOR = 0.10
# URIEL files individual Mandarin (cmn), not the macrolanguage code the rest of nestling uses.
URIEL_CODES = {"zho": "cmn"}
CACHE_VERSION = 1


def uriel_code(lang: str) -> str:
    """The code to ask URIEL for ``lang`` (ISO 639-3)."""
    return URIEL_CODES.get(lang, lang)


def default_cache_path() -> Path:
    """``uriel_features.json`` in nestling's cache folder (``nestling.files.cache_dir``)."""
    from nestling.files import cache_dir

    return cache_dir() / "uriel_features.json"


def _read_cache(path: Path) -> dict:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"version": CACHE_VERSION, "sets": {}}
    if cache.get("version") != CACHE_VERSION or not isinstance(cache.get("sets"), dict):
        return {"version": CACHE_VERSION, "sets": {}}
    return cache


def _write_cache(path: Path, cache: dict) -> None:
    # Atomic replace: several runs may start at once and read the cache while one writes it.
    write_atomic(path, json.dumps(cache))


def import_lang2vec():
    """The ``lang2vec.lang2vec`` module, from the installed package, however nestling was started.

    The lang2vec distribution also installs a *script* ``bin/lang2vec.py``. A console script (``nestling``,
    ``torchrun``) runs with its own folder, that ``bin/``, first on ``sys.path``, so a plain
    ``import lang2vec`` finds the script and fails on its missing data files. Folders holding a
    ``lang2vec.py`` file are therefore left out of ``sys.path`` for this one import (and a script module
    imported earlier by mistake is dropped), so only the package can be found.
    """
    import warnings

    if (loaded := sys.modules.get("lang2vec")) is not None and not hasattr(loaded, "__path__"):
        del sys.modules["lang2vec"]
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if not os.path.isfile(os.path.join(p or os.curdir, "lang2vec.py"))]
    try:
        with warnings.catch_warnings():
            # lang2vec imports pkg_resources, which warns on every import in recent setuptools.
            warnings.simplefilter("ignore")
            import lang2vec.lang2vec as l2v
    finally:
        sys.path[:] = saved
    return l2v


def _query_lang2vec(codes: list[str], feature_set: str) -> tuple[list[str], dict[str, list[float | None]]]:
    """Feature names and per-language values (None where URIEL has no value) straight from lang2vec."""
    l2v = import_lang2vec()
    unknown = [code for code in codes if code not in l2v.LANGUAGES]
    if unknown:
        raise UserError(f"URIEL (lang2vec) does not know language(s) {', '.join(unknown)}")
    if feature_set not in l2v.FEATURE_SETS_DICT:
        raise UserError(f"mixing.prior_features: unknown lang2vec feature set {feature_set!r}")
    try:
        table = l2v.get_features(codes, feature_set, header=True)
    except Exception as err:  # lang2vec raises bare Exception for languages missing from a feature set
        raise UserError(f"lang2vec cannot give {feature_set} for {', '.join(codes)}: {err}") from None
    names = [str(n) for n in table["CODE"]]
    values = {code: [None if v == "--" else float(v) for v in table[code]] for code in codes}
    return names, values


def load_features(
    codes: list[str], feature_sets: list[str], cache_path: Path | None = None
) -> dict[str, dict]:
    """{feature_set: {"names": [F], "values": {code: [F floats or None]}}}, from the cache when possible."""
    path = Path(cache_path) if cache_path is not None else default_cache_path()
    cache = _read_cache(path)
    changed = False
    for feature_set in feature_sets:
        entry = cache["sets"].setdefault(feature_set, {"names": None, "values": {}})
        missing = [code for code in codes if code not in entry["values"]]
        if missing:
            names, values = _query_lang2vec(missing, feature_set)
            entry["names"] = names
            entry["values"].update(values)
            changed = True
    if changed:
        _write_cache(path, cache)
    return {fs: cache["sets"][fs] for fs in feature_sets}


def cosine_distances(X: np.ndarray) -> np.ndarray:
    """[K, F] -> [K, K] cosine distances; an all-zero row is at distance 1 from everything."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    unit = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    D = 1.0 - unit @ unit.T
    D[(norms[:, 0] == 0)[:, None] | (norms[:, 0] == 0)[None, :]] = 1.0
    np.fill_diagonal(D, 0.0)
    return np.clip(D, 0.0, 2.0)


def prior_from_vectors(
    langs: list[str], X: np.ndarray, temperature: float, floor: float
) -> dict:
    """Distances, isolation and pi_0 from the [K, F] feature matrix (rows in ``langs`` order)."""
    if not temperature > 0:
        raise UserError(f"mixing.prior_temperature must be > 0, got {temperature}")
    K = len(langs)
    D = cosine_distances(X)
    isolation = D.sum(axis=1) / max(K - 1, 1)
    logits = isolation / temperature
    p = np.exp(logits - logits.max())
    p /= p.sum()
    pi_0 = apply_floor(p, floor)
    return {
        "distances": {a: {b: float(D[i, j]) for j, b in enumerate(langs)} for i, a in enumerate(langs)},
        "isolation": {lang: float(s) for lang, s in zip(langs, isolation)},
        "softmax": {lang: float(x) for lang, x in zip(langs, p)},
        "pi_0": {lang: float(x) for lang, x in zip(langs, pi_0)},
    }


_MEMO: dict[tuple, dict] = {}


def compute_prior(
    langs: list[str],
    feature_sets: list[str] | tuple[str, ...] = DEFAULT_FEATURES,
    temperature: float = DEFAULT_TEMPERATURE,
    floor: float = DEFAULT_FLOOR,
    cache_path: Path | None = None,
) -> dict:
    """The typological prior record: what a run stores as ``summary["mixing"]["prior"]``.

    Keys: langs, uriel_codes, feature_sets, features_used (names kept after dropping unknowns),
    n_features_dropped, temperature, floor, distances, isolation, softmax (before the floor), pi_0.
    """
    langs = list(langs)
    if len(set(langs)) != len(langs) or not langs:
        raise UserError(f"prior: languages must be distinct and non-empty, got {langs}")
    feature_sets = [str(fs) for fs in feature_sets]
    if not feature_sets:
        raise UserError("mixing.prior_features: name at least one lang2vec feature set")
    cache_path = Path(cache_path) if cache_path is not None else default_cache_path()
    key = (tuple(langs), tuple(feature_sets), float(temperature), float(floor), str(cache_path))
    if key in _MEMO:
        return json.loads(json.dumps(_MEMO[key]))
    codes = [uriel_code(lang) for lang in langs]
    tables = load_features(codes, feature_sets, cache_path)
    names, columns, dropped = [], [], 0
    for fs in feature_sets:
        table = tables[fs]
        for j, name in enumerate(table["names"]):
            column = [table["values"][code][j] for code in codes]
            # A feature unknown in any language would make the distances compare different things.
            if any(v is None or not math.isfinite(v) for v in column):
                dropped += 1
                continue
            names.append(f"{fs}:{name}")
            columns.append(column)
    if not columns:
        raise UserError(f"prior: no feature of {feature_sets} is known for all of {langs}")
    X = np.asarray(columns, dtype=np.float64).T  # [K, F]
    record = {
        "langs": langs,
        "uriel_codes": dict(zip(langs, codes)),
        "feature_sets": feature_sets,
        "features_used": names,
        "n_features_dropped": dropped,
        "temperature": float(temperature),
        "floor": float(floor),
        **prior_from_vectors(langs, X, temperature, floor),
    }
    _MEMO[key] = record
    return json.loads(json.dumps(record))


def format_prior_report(
    langs: list[str],
    feature_sets: list[str] | tuple[str, ...] = DEFAULT_FEATURES,
    temperature: float = DEFAULT_TEMPERATURE,
    floor: float = DEFAULT_FLOOR,
) -> str:
    """The text ``nestling mix prior --langs eng,nld,zho`` prints: distances, isolation, pi_0 (4 decimals)."""
    rec = compute_prior(langs, feature_sets, temperature, floor)
    width = max(6, *(len(lang) for lang in langs))
    lines = [
        f"URIEL features: {', '.join(rec['feature_sets'])} ({len(rec['features_used'])} used, "
        f"{rec['n_features_dropped']} dropped as unknown in some language)",
        f"codes: {', '.join(f'{a}->{b}' for a, b in rec['uriel_codes'].items())}",
        "",
        "cosine distances",
        " " * width + "".join(f"  {b:>{width}}" for b in langs),
    ]
    for a in langs:
        lines.append(f"{a:<{width}}" + "".join(f"  {rec['distances'][a][b]:>{width}.4f}" for b in langs))
    lines += ["", f"{'lang':<{width}}  {'isolation':>9}  {'softmax':>7}  {'pi_0':>6}"]
    for lang in langs:
        lines.append(
            f"{lang:<{width}}  {rec['isolation'][lang]:>9.4f}  {rec['softmax'][lang]:>7.4f}  {rec['pi_0'][lang]:>6.4f}"
        )
    lines.append(f"(pi_0 = floor {floor} + (1 - K*floor) * softmax(isolation / {temperature}))")
    return "\n".join(lines)
