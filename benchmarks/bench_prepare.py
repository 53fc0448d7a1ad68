"""Preparation throughput: clean + tokenize + shard, as a ratio to raw `tokenizers` encode_batch.

Builds a corpus of about ``--mb`` MB from the real text in ../shared/data/corpora (repeated to
size, split into files), trains a 16,384-id tokenizer once (untimed), then times, best of
``--repeats``, in the same run and on the same bytes:

* pipeline: ``prepare_dataset`` (detect, clean, count, ledger) + ``tokenize_dataset`` (encode,
  EOS-separated uint16 shards, meta), MB/s of *input* bytes;
* baseline: read the same files and ``Tokenizer.encode_batch`` every line (no cleaning, no output),
  ``tokenizers``' own thread pool on all cores; and, stricter, encode_batch of only the cleaned
  text the pipeline keeps (for CHAT, most input lines are annotation tiers the pipeline drops).

    .venv/bin/python benchmarks/bench_prepare.py --mb 24 --kind text
    .venv/bin/python benchmarks/bench_prepare.py --mb 24 --kind chat
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nestling.data.prepare import prepare_dataset  # noqa: E402
from nestling.data.tokenize import tokenize_dataset  # noqa: E402
from nestling.data.tokenizer import train_tokenizer  # noqa: E402


def shared_corpora() -> Path:
    """../shared/data/corpora beside the checkout, or $NESTLING_SHARED_DATA/corpora."""
    return Path(os.environ.get("NESTLING_SHARED_DATA", REPO.parent / "shared" / "data")) / "corpora"


def source_files(kind: str) -> list[Path]:
    """The real files a corpus kind is built from."""
    corpora = shared_corpora()
    if kind == "chat":
        return sorted((corpora / "childes_eng_brown" / "Brown").rglob("*.cha"))
    return [corpora / "ud_text" / "en_ewt_all.txt"]


def build_corpus(kind: str, mb: float, folder: Path, files_out: int = 16) -> int:
    """Write about ``mb`` MB into ``files_out`` files by repeating the real sources; return bytes."""
    blob = b"".join(p.read_bytes() for p in source_files(kind))
    target = int(mb * 1e6)
    reps = max(1, target // len(blob))
    per_file = max(1, reps // files_out)
    folder.mkdir(parents=True)
    suffix = ".cha" if kind == "chat" else ".txt"
    written, i = 0, 0
    while written < target:
        data = blob * per_file
        (folder / f"part{i:03d}{suffix}").write_bytes(data)
        written, i = written + len(data), i + 1
    return written


def cpu_seconds() -> float:
    """User + system CPU time of this process, its threads and its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(fn, *args) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of ``fn(*args)``: CPU time is the fair measure on a shared machine."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    fn(*args)
    return time.perf_counter() - wall, cpu_seconds() - cpu


def time_pipeline(raw: Path, work: Path, tokenizer_dir: Path) -> None:
    """Seconds for prepare_dataset + tokenize_dataset (the trained tokenizer copied in between)."""
    out = work / "ds"
    shutil.rmtree(out, ignore_errors=True)
    prepare_dataset({"eng": [raw]}, out, "strict", allow_over_budget=True)
    shutil.copytree(tokenizer_dir, out / "tokenizer")
    tokenize_dataset(out)


def time_encode_batch(files: list[Path], tokenizer_json: Path, batch_lines: int = 20_000) -> None:
    """Seconds to read ``files`` and encode_batch every line (the baseline)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    for path in files:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines), batch_lines):
            tok.encode_batch(lines[i:i + batch_lines], add_special_tokens=False)


def main() -> None:
    """Build the corpus, time both paths best of --repeats, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=24.0)
    parser.add_argument("--kind", choices=["text", "chat"], default="text")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n_bytes = build_corpus(args.kind, args.mb, work / "raw")
        # The tokenizer is trained once, untimed, on a cleaned sample.
        prepare_dataset({"eng": source_files(args.kind)}, work / "sample", "strict", allow_over_budget=True)
        train_tokenizer(work / "sample", vocab_size=16384)
        tokenizer_dir = work / "sample" / "tokenizer"
        raw_files = sorted((work / "raw").iterdir())
        tok_json = tokenizer_dir / "tokenizer.json"
        runs = {"pipeline": [], "baseline": [], "baseline_clean": []}
        for _ in range(args.repeats):
            runs["baseline"].append(timed(time_encode_batch, raw_files, tok_json))
            runs["pipeline"].append(timed(time_pipeline, work / "raw", work, tokenizer_dir))
            runs["baseline_clean"].append(timed(time_encode_batch, [work / "ds" / "clean" / "eng.txt"], tok_json))
        mb = n_bytes / 1e6
        p, b, c = (min(r[0] for r in runs[k]) for k in ("pipeline", "baseline", "baseline_clean"))
        pc, bc, cc = (min(r[1] for r in runs[k]) for k in ("pipeline", "baseline", "baseline_clean"))
        print(f"corpus: {args.kind}, {mb:.1f} MB in {len(raw_files)} files, cores: {os.cpu_count()}, "
              f"load average: {os.getloadavg()[0]:.1f}")
        print(f"pipeline (clean+tokenize+shard): {p:.2f} s = {mb / p:.2f} MB/s   cpu {pc:.2f} s = {mb / pc:.2f} MB/cpu-s")
        print(f"baseline encode_batch, raw input: {b:.2f} s = {mb / b:.2f} MB/s   cpu {bc:.2f} s = {mb / bc:.2f} MB/cpu-s")
        print(f"baseline encode_batch, kept text only: {c:.2f} s   cpu {cc:.2f} s")
        print(f"ratio vs raw encode_batch: wall {b / p:.2f}x, cpu {bc / pc:.2f}x")
        print(f"ratio vs encode_batch of the kept text: wall {c / p:.2f}x, cpu {cc / pc:.2f}x")

if __name__ == "__main__":
    main()
