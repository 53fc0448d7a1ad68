"""Does an exported nestling model load and compute the same in every transformers the BabyLM pipelines use?

    python benchmarks/compat_transformers.py [--run RUN_DIR] [--versions 4.51.3 locked latest] [--pairs N]

Versions: ``4.51.3`` (the strict track's pinned pipeline), ``locked`` (this environment, requirements.lock)
and ``latest`` (the newest release the registry serves); any other release number works too. Each
non-locked version gets a throw-away virtual environment under ``.compat/`` (kept for reuse; torch is the
lock's). Without ``--run`` the debug recipe is trained once into ``.compat/runs`` (a minute on a quiet machine). The run is exported
(``nestling export``), and its ``main`` branch and one ``chck_*`` branch are checked out and probed by
``compat_probe.py`` in a fresh process that cannot import nestling. Every environment is compared with
the locked one: all auto classes load, logits within 1e-5, AutoModel's hidden states equal the causal
model's, greedy generation equal with and without the cache, minimal-pair decisions identical.
Prints a Markdown table (versions x checks); exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("compat_probe.py")
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


def exported_folders(run_dir: Path | None, work: Path) -> dict[str, Path]:
    """{"main": folder, "chck_*": folder} checked out from a fresh export of the run."""
    nestling = [str(Path(sys.executable).parent / "nestling")]
    if run_dir is None:
        runs = ROOT / ".compat" / "runs"  # trained once, reused by later checks
        if not any(runs.glob("*/final")):
            run(nestling + ["train", "debug", "--set", f"run.out_root={runs}"], capture_output=True, cwd=ROOT)
        run_dir = sorted(runs.glob("*/final"))[-1].parent
    repo = work / "export"
    run(nestling + ["export", str(run_dir), "--out", str(repo), "--allow-unevaluated"], capture_output=True)
    branches = run(["git", "-C", str(repo), "branch", "--format=%(refname:short)"], capture_output=True).stdout.split()
    revision = sorted(b for b in branches if b.startswith("chck_"))[len([b for b in branches if b.startswith("chck_")]) // 2]
    folders = {}
    for name in ("main", revision):
        folder = work / "checkout" / name
        folder.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(repo), "archive", name], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        folders[name] = folder
    return folders


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
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished nestling run folder (default: train the debug recipe)")
    parser.add_argument("--versions", nargs="+", default=["4.51.3", "locked", "latest"])
    parser.add_argument("--pairs", type=int, default=200, help="BLiMP pairs to score")
    parser.add_argument("--blimp", type=Path, default=ROOT.parent / "shared" / "data" / "eval" / "blimp" / "data")
    parser.add_argument("--envs-dir", type=Path, default=ROOT / ".compat")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folders = exported_folders(args.run, work)
        pairs = pairs_file(args.pairs, work, args.blimp)
        results = {}
        for version in ["locked"] + [v for v in args.versions if v != "locked"]:
            python, label = environment(version, args.envs_dir)
            for name, folder in folders.items():
                out = work / f"{label}-{name}.json"
                # cwd outside the checkout and -I: the probe sees only the environment's site-packages.
                run([python, "-I", str(PROBE), str(folder), str(pairs), str(out)], cwd=work, capture_output=True)
                results[label, name] = json.loads(out.read_text())
    names = list(folders)
    header = ["transformers", "revision"] + list(CLASSES) + list(checks(results["locked", names[0]],
                                                                          results["locked", names[0]]))[len(CLASSES):]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    failed = False
    for (label, name), result in results.items():
        row = checks(result, results["locked", name])
        failed |= not all(row.values())
        version = result["transformers"] + (" (locked)" if label == "locked" else "")
        print("| " + " | ".join([version, name] + ["✓" if v else "✗" for v in row.values()]) + " |")
        for c in CLASSES:
            if result["loads"][c].startswith("FAILED"):
                print(f"  {version} {name} {c}: {result['loads'][c]}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
