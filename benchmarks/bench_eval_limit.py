"""How far each suite's scoring is from its limit: eval time / a bare forward over the same tokens.

    python benchmarks/bench_eval_limit.py MODEL_DIR [--suites multilingual,strict-fast] [--limit 20]
        [--threads 1] [--repeats 3]

For each suite, the rows nestling scores are built exactly as the evaluation builds them
(multilingual: the native engine's prepared suite over the 20 tasks of bench_lmeval_parity.py;
strict-fast: the minimal-pair tasks of ../shared's fast_eval, WUG included, reading excluded:
its word-surprisal plan is a different path). From those rows and nestling's prefix-sharing plan
(``scoring._split_work``) come the token positions nestling must compute: a plain row's tokens, a
shared prefix once and each member's own suffix. The bare forward runs the model's decoder body over
exactly those sequences, length-sorted in batches of at most 64 rows and --max-tokens padded tokens,
plus the output layer at the scored positions only: the least any scorer must do. The limit ratio
is (nestling's per-revision scoring time, from tokens to sums, the first-batch checks included)
divided by that time; goal <= 1.3. Times are the best of --repeats. The data side (reading, rendering,
tokenizing, deduplicating; the first suite also pays lm-eval's task index) is timed once, and the last
column says what preparing it once saves over 29 revisions (model loading not included).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nestling.evaluation import scoring  # noqa: E402

SHARED = REPO.parent / "shared"


def multilingual_rows(model_dir: Path, tokenizer, limit: int | None):
    from benchmarks.bench_lmeval_parity import EVAL, TASKS, TASKS_DIR
    from nestling.evaluation import lm_tasks
    from nestling.evaluation import multilingual as ml

    data_map = Path(tempfile.mkdtemp()) / "map.yaml"
    data_map.write_text(f"zhoblimp_*: {EVAL}/zhoblimp/data\n"
                        f"blimp_nl_*: {{data_files: {EVAL}/blimp_nl/blimp-nl.jsonl, "
                        f"where: {{category: '{{dataset_name}}'}}}}\n"
                        f"blimp_*: {EVAL}/blimp/data\n")
    ml.go_offline()
    manager, _ = ml._resolve_trees(TASKS, TASKS_DIR)
    rendered, _, _ = lm_tasks.load_rendered(manager, TASKS, ml.read_data_map(data_map), limit, log=None)
    prepared = lm_tasks.Suite(rendered).for_revision(model_dir, tokenizer)
    return prepared.rows, prepared.groups


def strict_rows(tokenizer, limit: int | None):
    """The minimal-pair tasks of strict-fast as score_items / score_texts tokenize and group them."""
    from nestling.evaluation.suites import load_suite_task, locate_tasks

    fast, _, _ = locate_tasks("strict-fast", SHARED / "data" / "eval" / "babylm_2025" / "evaluation_data")
    requests, groups = [], []
    for task, path in fast.values():
        if task.kind == "reading":
            continue
        data = load_suite_task(task, path)
        items = data.items[:limit] if limit else data.items
        for item in items:
            groups.append(list(range(len(requests), len(requests) + len(item.candidates))))
            requests.extend(item.candidates)
    unique: dict = {}
    index = [unique.setdefault(r, len(unique)) for r in requests]
    return scoring.encode(tokenizer, list(unique)), [[index[r] for r in g] for g in groups]


def computed_sequences(rows, groups, batch_size: int, max_tokens: int) -> tuple[list[list[int]], int]:
    """The token sequences nestling's plan computes (shared prefixes once), and the scored positions."""
    lengths = [len(ids) for ids, _ in rows]
    shared, plain_ids = scoring._split_work(rows, lengths, groups, batch_size, max_tokens)
    seqs = [rows[i][0] for i in plain_ids]
    for prefix_len, batch in shared:
        for group in batch:
            seqs.append(rows[group[0]][0][:prefix_len])
            seqs += [rows[m][0][prefix_len:] for m in group]
    return seqs, sum(sum(mask[1:]) for _, mask in rows)


def bare_forward(model, seqs: list[list[int]], n_scored: int, batch_size: int, max_tokens: int) -> None:
    """The decoder body over ``seqs`` in length-sorted batches, and the output layer at n_scored positions."""
    body, head = scoring._split_head(model)
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    batches = scoring._batches([len(seqs[i]) for i in order], batch_size, max_tokens)
    with torch.inference_mode():
        for batch in batches:
            members = [seqs[order[i]] for i in batch]
            width = max(len(s) for s in members)
            ids = torch.zeros((len(members), width), dtype=torch.long)
            att = torch.zeros_like(ids)
            for r, s in enumerate(members):
                ids[r, :len(s)] = torch.tensor(s)
                att[r, :len(s)] = 1
            body(input_ids=ids, attention_mask=att)
        hidden = torch.zeros((n_scored, head.in_features))
        for c in range(0, n_scored, 4096):
            head(hidden[c:c + 4096])


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", type=Path)
    parser.add_argument("--suites", default="multilingual,strict-fast")
    parser.add_argument("--limit", type=int, help="first N items per task")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16384)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from nestling.evaluation.evaluate import load_model

    model, tokenizer = load_model(args.model, device="cpu", trust_remote_code=True)
    print(f"model {args.model}, {args.threads} thread(s), best of {args.repeats}; limit {args.limit}\n")
    print("| suite | rows | positions computed | scored | data side (s) | eval (s) | bare forward (s) | ratio | "
          "29 x one revision / one data side + 29 sweeps |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for suite in args.suites.split(","):
        start = time.perf_counter()
        rows, groups = (multilingual_rows(args.model, tokenizer, args.limit) if suite == "multilingual"
                        else strict_rows(tokenizer, args.limit))
        data_s = time.perf_counter() - start
        seqs, n_scored = computed_sequences(rows, groups, 64, args.max_tokens)

        def evaluate():
            scoring._VERIFIED.pop(model, None)  # a new revision pays its first-batch checks
            scoring.score_encoded(model, rows, groups=groups, batch_size=64, max_tokens=args.max_tokens,
                                  device="cpu", progress=False)

        eval_s = best_of(args.repeats, evaluate)
        bare_s = best_of(args.repeats, lambda: bare_forward(model, seqs, n_scored, 64, args.max_tokens))
        once = 29 * (data_s + eval_s) / (data_s + 29 * eval_s)
        print(f"| {suite} | {len(rows):,} | {sum(map(len, seqs)):,} | {n_scored:,} | {data_s:.2f} | {eval_s:.2f} | "
              f"{bare_s:.2f} | {eval_s / bare_s:.2f} | {once:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
