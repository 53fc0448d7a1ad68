"""Does an exported nestling model load and compute the same in every transformers the BabyLM pipelines use?

    python benchmarks/compat_transformers.py [--run RUN_DIR ...] [--versions 4.51.3 locked latest] [--pairs N]

Versions: ``4.51.3`` (the strict track's pinned pipeline), ``locked`` (this environment, requirements.lock)
and ``latest`` (the newest release the registry serves); any other release number works too. Each
non-locked version gets a throw-away virtual environment under ``.compat/`` (kept for reuse; torch is the
lock's). Without ``--run`` the debug recipe is trained once as a Hybrid Stream Mixer (remote code) and
once as a native Llama (``--set model.arch=llama``, the TAAM card's kind) into ``.compat/runs/<arch>`` (a
minute each on a quiet machine). Each run is exported (``nestling export``), and its ``main`` branch and
one ``chck_*`` branch are checked out and probed by ``compat_probe.py`` in a fresh process that cannot
import nestling. Every environment is compared with the locked one: all auto classes load, logits within
1e-5, AutoModel's hidden states equal the causal model's, greedy generation equal with and without the
cache, minimal-pair decisions identical, ``pipeline("text-generation", ...)`` returns the prompt and its
continuation. And the card's own Usage block, taken out of the checked-out README.md
(``nestling.export.card.usage_code``, the local folder in place of the Hub id), runs verbatim in a fresh
``python -I`` and prints the prompt's continuation.
Prints a Markdown table (model x versions x checks); exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from nestling.export.card import USAGE_PROMPT, usage_code  # noqa: E402

PROBE = Path(__file__).with_name("compat_probe.py")
ARCHS = ("stream_mixer", "llama")
LOGIT_TOL = 1e-5
LOGPROB_TOL = 1e-4
CLASSES = ("AutoConfig", "AutoTokenizer", "AutoProcessor", "AutoModelForCausalLM", "AutoModel",
           "AutoModelForSequenceClassification")


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kwargs)


def locked_torch() -> str:
    line = next(l for l in (ROOT / "requirements.lock").read_text().splitlines() if l.startswith("torch=="))
    return line.split()[0]


def environment(version: str, envs_dir: Path) -> tuple[str, str]:
    """(python, label) for a transformers version; a new venv under envs_dir unless it exists already."""
    if version == "locked":
        return sys.executable, "locked"
    venv = envs_dir / f"transformers-{version}"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        run([sys.executable, "-m", "venv", "--clear", str(venv)])
        run([str(python), "-m", "pip", "install", "-q", locked_torch()])
        spec = "transformers" if version == "latest" else f"transformers=={version}"
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", spec, "safetensors", "sentencepiece"])
        (venv / ".ready").touch()
    return str(python), version


def trained_run(arch: str) -> Path:
    """The debug recipe as ``arch``, trained once into .compat/runs/<arch> and reused by later checks."""
    runs = ROOT / ".compat" / "runs" / arch
    if not any(runs.glob("*/final")):
        nestling = [str(Path(sys.executable).parent / "nestling"), "train", "debug"]
        sets = [f"run.out_root={runs}"]
        if arch != "stream_mixer":  # the debug recipe is a stream mixer; other architectures replace it
            sets += [f"model.arch={arch}", f"method=debug-{arch}"]
        run(nestling + [arg for s in sets for arg in ("--set", s)], capture_output=True, cwd=ROOT)
    return sorted(runs.glob("*/final"))[-1].parent


def exported_folders(run_dir: Path, work: Path) -> dict[str, Path]:
    """{"main": folder, "chck_*": folder} checked out (README.md included) from a fresh export of the run."""
    repo = work / "export"
    nestling = str(Path(sys.executable).parent / "nestling")
    run([nestling, "export", str(run_dir), "--out", str(repo), "--allow-unevaluated"], capture_output=True)
    branches = run(["git", "-C", str(repo), "branch", "--format=%(refname:short)"], capture_output=True).stdout.split()
    checkpoints = sorted(b for b in branches if b.startswith("chck_"))
    folders = {}
    for name in ("main", checkpoints[len(checkpoints) // 2]):
        folder = work / "checkout" / name
        folder.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", name], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        folders[name] = folder
    return folders


def run_card_usage(python: str, folder: Path, work: Path) -> str:
    """Run the Usage block of folder/README.md verbatim (folder for the Hub id); "" if it ran and printed
    the prompt's continuation, else the failure's last line."""
    script = work / "usage.py"
    script.write_text(usage_code((folder / "README.md").read_text(encoding="utf-8"), repo=str(folder)))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([python, "-I", str(script)], cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
    return "" if proc.stdout.startswith(USAGE_PROMPT) else f"printed {proc.stdout[:80]!r}"


def pairs_file(n: int, work: Path, blimp: Path) -> Path:
    """The first n pairs across the BLiMP paradigm files, in name order, as one jsonl."""
    files = sorted(blimp.glob("*.jsonl"))
    if not files:
        sys.exit(f"no BLiMP files in {blimp} (pass --blimp DIR)")
    per_file = max(1, -(-n // len(files)))
    pairs = []
    for f in files:
        lines = [l for l in f.read_text(encoding="utf-8").splitlines() if l.strip()][:per_file]
        pairs.extend(lines)
    out = work / "pairs.jsonl"
    out.write_text("\n".join(pairs[:n]) + "\n", encoding="utf-8")
    return out


def checks(result: dict, reference: dict) -> dict[str, bool]:
    ok = {c: not result["loads"].get(c, "FAILED").startswith("FAILED") for c in CLASSES}
    have_logits = "logits" in result and "logits" in reference
    ok["logits ≤1e-5"] = have_logits and max(
        abs(a - b) for ra, rb in zip(result["logits"], reference["logits"])
        for ta, tb in zip(ra, rb) for a, b in zip(ta, tb)) <= LOGIT_TOL
    ok["AutoModel = hidden"] = bool(result.get("automodel_hidden_matches"))
    ok["generate cache = no cache"] = bool(result.get("generate_cache_equal"))
    ok["generate = locked"] = result.get("generations") == reference.get("generations")
    pairs, ref_pairs = result.get("pairs", []), reference.get("pairs", [])
    ok["pairs identical"] = bool(pairs) and len(pairs) == len(ref_pairs) and all(
        (g > b) == (rg > rb) and abs(g - rg) <= LOGPROB_TOL and abs(b - rb) <= LOGPROB_TOL
        for (g, b), (rg, rb) in zip(pairs, ref_pairs))
    ok["pipeline() = locked"] = result.get("pipeline", "").startswith("The cat sat on the") and \
        result.get("pipeline") == reference.get("pipeline")
    ok["card usage code"] = result.get("usage") == ""
    return ok


def probe_all(archs: dict[str, Path], versions: list[str], args, work: Path) -> dict:
    """{(arch, version label, revision): probe result + "usage"} for every model, environment and revision."""
    pairs = pairs_file(args.pairs, work, args.blimp)
    folders = {arch: exported_folders(run_dir, work / arch) for arch, run_dir in archs.items()}
    results = {}
    for version in ["locked"] + [v for v in versions if v != "locked"]:
        python, label = environment(version, args.envs_dir)
        for arch, revisions in folders.items():
            for name, folder in revisions.items():
                out = work / f"{arch}-{label}-{name}.json"
                # cwd outside the checkout and -I: the probe sees only the environment's site-packages.
                run([python, "-I", str(PROBE), str(folder), str(pairs), str(out)], cwd=work, capture_output=True)
                results[arch, label, name] = {**json.loads(out.read_text()),
                                              "usage": run_card_usage(python, folder, work)}
    return results


def print_table(results: dict) -> bool:
    """The Markdown table, failures' messages on stderr; True if every check passed."""
    first = next(iter(results.values()))
    header = ["model", "transformers", "revision"] + list(checks(first, first))
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    passed = True
    for (arch, label, name), result in results.items():
        row = checks(result, results[arch, "locked", name])
        passed &= all(row.values())
        version = result["transformers"] + (" (locked)" if label == "locked" else "")
        print("| " + " | ".join([arch, version, name] + ["✓" if v else "✗" for v in row.values()]) + " |")
        failures = [(c, result["loads"][c]) for c in CLASSES if result["loads"][c].startswith("FAILED")]
        failures += [("card usage code", result["usage"])] if result["usage"] else []
        failures += [("pipeline", result.get("pipeline"))] if not row["pipeline() = locked"] else []
        for check, message in failures:
            print(f"  {arch} {version} {name} {check}: {message}", file=sys.stderr)
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, action="append",
                        help="a finished nestling run folder, repeatable (default: the debug recipe, mixer and Llama)")
    parser.add_argument("--versions", nargs="+", default=["4.51.3", "locked", "latest"])
    parser.add_argument("--pairs", type=int, default=200, help="BLiMP pairs to score")
    parser.add_argument("--blimp", type=Path, default=ROOT.parent / "shared" / "data" / "eval" / "blimp" / "data")
    parser.add_argument("--envs-dir", type=Path, default=ROOT / ".compat")
    args = parser.parse_args()
    archs = {f"run{i}:{p.name}": p for i, p in enumerate(args.run)} if args.run else \
        {arch: trained_run(arch) for arch in ARCHS}
    with tempfile.TemporaryDirectory() as tmp:
        results = probe_all(archs, args.versions, args, Path(tmp))
    return 0 if print_table(results) else 1


if __name__ == "__main__":
    sys.exit(main())
