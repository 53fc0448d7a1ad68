"""bf16 autocast trains like fp32: the debug recipe's model, a few hundred steps on CPU, both precisions.

The projections and MLPs run in bf16 under autocast; the stream recurrence, the carried state, the gated read
and every norm stay fp32 (the model turns autocast off around them), and the master weights are fp32.
"""

import json

from nestling.recipe import load_recipe
from nestling.training.trainer import train
from tests.training.helpers import make_dataset, recipe

STEPS = 200
WINDOW = 25
# bf16 rounds each matmul input to 8 bits of mantissa (relative error ~4e-3); over 200 steps the two curves
# part by noise, not by trend. Measured (torch 2.13 CPU): 25-step window means within 0.005 nats, the last
# window 0.24% apart. Allowed: 0.05 nats and 1%; a broken bf16 path (fp32 parts cast to bf16, a state in
# bf16) drifts by tenths of a nat.
WINDOW_ATOL, FINAL_RTOL = 0.05, 0.01


def _loss_curve(data_dir, tmp_path, precision: str) -> list[float]:
    model = {**load_recipe("debug").model.to_dict(), "max_position_embeddings": 64}
    r = recipe(data_dir, model=model, run={"precision": precision, "eval_every": 10_000},
               budget={"max_steps": STEPS}, batch={"global_batch": 8, "seq_len": 32, "micro_batch": 8},
               checkpoints={"state_every": 10_000})
    run_dir = train(r, out_dir=tmp_path / precision)
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [rec["loss"] for rec in records if rec.get("kind") == "train"]


def test_bf16_autocast_loss_curve_follows_fp32(tmp_path):
    data_dir = make_dataset(tmp_path / "data", train_tokens=40_000)
    fp32, bf16 = (_loss_curve(data_dir, tmp_path, p) for p in ("fp32", "bf16"))
    assert len(fp32) == len(bf16) == STEPS
    means = [tuple(sum(c[i:i + WINDOW]) / WINDOW for c in (fp32, bf16)) for i in range(0, STEPS, WINDOW)]
    gaps = [abs(a - b) for a, b in means]
    print(f"bf16 vs fp32: window-mean gaps {[round(g, 4) for g in gaps]}")
    assert max(gaps) < WINDOW_ATOL, gaps
    last_fp32, last_bf16 = (sum(c[-WINDOW:]) / WINDOW for c in (fp32, bf16))
    print(f"last {WINDOW} steps: fp32 {last_fp32:.4f}, bf16 {last_bf16:.4f}")
    assert abs(last_bf16 - last_fp32) < FINAL_RTOL * last_fp32, (last_fp32, last_bf16)
    assert last_fp32 < 0.7 * fp32[0]  # it learned: the comparison is between two falling curves
