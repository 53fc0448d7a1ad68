"""Everything worth measuring on a GPU, in one run of a few minutes (driver of benchmarks/gpu_check.sh).

Parts, each timed and each allowed to fail on its own (its error goes into the JSON, the others still run):
  tests       pytest -m cuda: eager / compiled / fused parity and bf16 on the device
  train       tokens/s, MFU and peak memory of stream-mixer-48m and llama-48m at 128 x 1,024 (gradient
              accumulation by memory), 30 timed optimizer steps after warm-up, per mode: eager, compiled,
              fused (the Triton write+read kernel, eager; stream mixer only)
  generate    decode tokens/s after a 4,096-token prompt, stream mixer (stream states) vs Llama (KV cache)
  eval        wall time of the strict fast zero-shot suite on one revision of the 48M stream mixer

``--dry-run`` runs every part at toy size on CPU (a few seconds each), so the script is known to work
before it meets a GPU. Nothing is downloaded: data comes from ../shared/data (or $NESTLING_SHARED_DATA).

    python benchmarks/gpu_check.py --out gpu_check.json [--dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

VOCAB = 16384
# Dense bf16 tensor-core peaks (FLOP/s) of the cards MFU is reported for; others report MFU as null.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}
TOY_MIXER = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, attention_layers=[1], n_streams=4,
                 stream_dim=16, n_read_heads=2, num_attention_heads=2, head_dim=32, chunk_size=16)
TOY_LLAMA = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=2)


def sizes(dry: bool) -> dict:
    """Every size the parts use: the card's at full size, toy ones for --dry-run."""
    if dry:
        return dict(batch=4, seq=64, warmup=1, steps=2, context=64, new_tokens=8, eval_files=2, vocab=512)
    return dict(batch=128, seq=1024, warmup=3, steps=30, context=4096, new_tokens=256, eval_files=None, vocab=VOCAB)


def model_section(name: str, dry: bool) -> dict:
    from nestling.recipe import load_recipe

    section = load_recipe(name).model.to_dict()
    if dry:
        toy = TOY_MIXER if section["arch"] == "stream_mixer" else TOY_LLAMA
        section = {"arch": section["arch"], **toy}
    return section


def build(name: str, dry: bool, impl: str | None, device, vocab: int, max_positions: int = 4096):
    from nestling.models import build_model

    section = model_section(name, dry)
    section["max_position_embeddings"] = max(max_positions, section.get("max_position_embeddings", 0))
    if impl is not None:
        section["mixer_impl"] = impl
    return build_model(section, vocab, 1, 2, 0).float().to(device)


def autocast_for(device):
    if device.type == "cuda":
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def flops_per_token(model, seq: int) -> float:
    """6 N (forward + backward of every weight matmul) plus causal attention's 12 L_att T D (as nanoGPT counts).

    The stream recurrence and read are not counted: MFU is the share of the device spent on the model's
    matmuls, the work a Llama of equal size must do too."""
    cfg = model.config
    n_attn = len(getattr(cfg, "attention_layers", range(cfg.num_hidden_layers)))
    n_params = sum(p.numel() for p in model.parameters())
    return 6 * n_params + 12 * n_attn * seq * cfg.hidden_size


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_mode(name: str, mode: str, s: dict, device, dry: bool) -> dict:
    """Tokens/s, MFU and peak memory of ``s['steps']`` optimizer steps of (batch x seq) tokens after warm-up."""
    from nestling.recipe import load_recipe
    from nestling.training.batching import memory_fits, plan_batch
    from nestling.training.distributed import Dist
    from nestling.training.optim import build_optimizer
    from nestling.training.trainer import accumulate_gradients

    impl = None if "stream" not in name else ("fused" if "fused" in mode else "chunked")
    model = build(name, dry, impl, device, s["vocab"]).train()
    autocast = autocast_for(device)
    fits = memory_fits(model, s["seq"], s["vocab"], device, autocast, f"gpu_check|{mode}")
    plan = plan_batch(s["batch"], s["seq"], "auto", 1, fits)
    # --dry-run traces the same whole graph but skips inductor's code generation (minutes on a small CPU).
    backend = "aot_eager" if dry else "inductor"
    fwd = torch.compile(model, fullgraph=True, backend=backend) if "compiled" in mode else model
    optimizer = build_optimizer(model, load_recipe(name).optimizer)
    dist = Dist(0, 1, 0, device)
    windows = torch.randint(0, s["vocab"], (s["batch"], s["seq"] + 1), generator=torch.Generator().manual_seed(0))
    lang_idx = torch.zeros(s["batch"], dtype=torch.long)

    def step():
        accumulate_gradients(fwd, windows, lang_idx, plan, 1, dist, autocast)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    for _ in range(s["warmup"]):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(s["steps"]):
        step()
    sync(device)
    seconds = time.perf_counter() - t0
    tokens_per_s = s["steps"] * s["batch"] * s["seq"] / seconds
    peak = PEAK_BF16.get(next((k for k in PEAK_BF16 if k in device_name(device)), ""), None)
    return {"tokens_per_s": tokens_per_s, "micro_batch": plan.micro, "accum": plan.accum,
            "mfu": tokens_per_s * flops_per_token(model, s["seq"]) / peak if peak else None,
            "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
            "params": sum(p.numel() for p in model.parameters())}


def fused_ready(device) -> str | None:
    """Why the fused kernel cannot run here, or None."""
    from nestling.models.stream_mixer.ops_triton_stream_mixer import fused_available

    return None if fused_available(device) else "Triton absent (or not CUDA and TRITON_INTERPRET unset)"


def part_train(s: dict, device, dry: bool) -> dict:
    out = {}
    plan = [("stream-mixer-48m", m) for m in ("eager", "compiled", "fused")]
    plan += [("llama-48m", m) for m in ("eager", "compiled")]
    for name, mode in plan:
        key = f"{name}/{mode}"
        t0 = time.perf_counter()
        if "fused" in mode and fused_ready(device):
            out[key] = {"skipped": fused_ready(device)}
            continue
        try:
            out[key] = train_mode(name, mode, s, device, dry)
        except Exception as err:  # one mode failing must not hide the others' figures
            out[key] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(limit=4)}
        out[key]["seconds"] = round(time.perf_counter() - t0, 1)
        torch._dynamo.reset()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


@torch.no_grad()
def decode_rate(model, s: dict, device) -> dict:
    """Prefill seconds and greedy decode tokens/s after a ``context``-token prompt (batch 1, cache on).

    Decode time = generate(n new tokens) - generate(1 new token), both after a warm-up call."""
    prompt = torch.randint(3, s["vocab"], (1, s["context"]), generator=torch.Generator().manual_seed(0)).to(device)
    kwargs = dict(do_sample=False, use_cache=True, pad_token_id=0, eos_token_id=None)

    def timed(n: int) -> float:
        sync(device)
        t0 = time.perf_counter()
        out = model.generate(prompt, max_new_tokens=n, min_new_tokens=n, **kwargs)
        sync(device)
        assert out.shape[1] == s["context"] + n, out.shape
        return time.perf_counter() - t0

    with autocast_for(device)():
        timed(2)
        prefill = timed(1)
        total = timed(s["new_tokens"])
    return {"prefill_s": prefill, "decode_tokens_per_s": (s["new_tokens"] - 1) / max(total - prefill, 1e-9)}


def part_generate(s: dict, device, dry: bool) -> dict:
    out = {}
    for name in ("stream-mixer-48m", "llama-48m"):
        model = build(name, dry, None, device, s["vocab"], max_positions=s["context"] + s["new_tokens"]).eval()
        out[name] = decode_rate(model, s, device)
    out["ratio_stream_mixer_vs_llama"] = (out["stream-mixer-48m"]["decode_tokens_per_s"]
                                          / out["llama-48m"]["decode_tokens_per_s"])
    return out


def eval_root(s: dict, tmp: Path) -> Path:
    """The official evaluation_data folder; for --dry-run a copy of its layout holding two BLiMP files."""
    shared = Path(os.environ.get("NESTLING_SHARED_DATA", REPO.parent / "shared" / "data"))
    root = shared / "eval" / "babylm_2025" / "evaluation_data"
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no evaluation data (clone with ../shared beside the repo, or set "
                                "NESTLING_SHARED_DATA)")
    if s["eval_files"] is None:
        return root
    toy = tmp / "evaluation_data" / "fast_eval" / "blimp_fast"
    toy.mkdir(parents=True)
    for f in sorted((root / "fast_eval" / "blimp_fast").iterdir())[: s["eval_files"]]:
        (toy / f.name).symlink_to(f.resolve())
    return tmp / "evaluation_data"


def part_eval(s: dict, device, dry: bool) -> dict:
    """Seconds to score one revision (a freshly initialised 48M stream mixer) on the strict fast suite."""
    from nestling.data.tokenizer import build_tokenizer, save_tokenizer
    from nestling.evaluation.suites import run_suite

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = eval_root(s, tmp)
        blimp = sorted((root / "fast_eval" / "blimp_fast").iterdir())[:5]
        lines = (json.loads(line).get("sentence_good", "") for f in blimp for line in f.open())
        folder = tmp / "model"
        save_tokenizer(build_tokenizer(lines, s["vocab"] if dry else 4096), folder)
        build("stream-mixer-48m", dry, None, "cpu", s["vocab"]).save_pretrained(folder)
        t0 = time.perf_counter()
        result = run_suite(folder, "strict-fast", root, revisions="final", device=str(device),
                           precision="bf16" if device.type == "cuda" else "fp32", progress=False,
                           log=lambda line: None, trust_remote_code=True)
        seconds = time.perf_counter() - t0
    tasks = next(iter(result["revisions"].values()))["tasks"]
    return {"eval_seconds": seconds, "tasks": len(tasks), "missing": len(result["missing"])}


def part_tests(s: dict, device, dry: bool) -> dict:
    """The cuda-marked tests, in a child process (they skip with a reason where no GPU is present)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests/"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    if proc.returncode not in (0, 5):  # 5: no test collected
        raise RuntimeError(f"pytest -m cuda failed: {tail[0]}\n{proc.stdout[-2000:]}")
    return {"summary": tail[0], "returncode": proc.returncode}


def device_name(device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or 'x86'})"


PARTS = {"tests": part_tests, "train": part_train, "generate": part_generate, "eval": part_eval}


def run_parts(dry: bool, only: list[str]) -> dict:
    device = torch.device("cpu" if dry or not torch.cuda.is_available() else "cuda")
    s = sizes(dry)
    report = {"device": device_name(device), "torch": torch.__version__, "dry_run": dry, "sizes": s, "parts": {}}
    for name in only:
        t0 = time.perf_counter()
        try:
            entry = {"status": "ok", "result": PARTS[name](s, device, dry)}
        except Exception as err:  # each part reports its own error; the rest still run
            entry = {"status": "error", "error": f"{type(err).__name__}: {err}",
                     "traceback": traceback.format_exc(limit=6)}
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        report["parts"][name] = entry
        print(f"[gpu_check] {name}: {entry['status']} in {entry['seconds']} s", file=sys.stderr, flush=True)
    return report


def table(report: dict) -> str:
    """The figures as aligned text lines."""
    lines = [f"device: {report['device']}   torch {report['torch']}   dry_run={report['dry_run']}"]
    for name, entry in report["parts"].items():
        lines.append(f"{name:<9} {entry['status']:<6} {entry['seconds']:>7.1f} s  {entry.get('error', '')}")
        result = entry.get("result") or {}
        for key, value in result.items():
            if isinstance(value, dict):
                cells = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in value.items() if k != "traceback")
                lines.append(f"    {key:<32} {cells}")
            else:
                lines.append(f"    {key:<32} {value:.4g}" if isinstance(value, float) else f"    {key:<32} {value}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="every part at toy size on CPU")
    ap.add_argument("--out", default="gpu_check.json", help="the JSON report")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    args = ap.parse_args(argv)
    if args.dry_run:
        # The fused kernel runs in Triton's interpreter on CPU (when Triton is installed; else it is skipped).
        os.environ.setdefault("TRITON_INTERPRET", "1")
    only = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(only) - set(PARTS))
    if unknown:
        ap.error(f"unknown parts {unknown}; choose from {list(PARTS)}")
    report = run_parts(args.dry_run, only)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"[gpu_check] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
