import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from nestling.errors import UserError
from nestling.models import build_model
from nestling.training import checkpoint
from tests.training.helpers import TINY_LLAMA, VOCAB, write_tokenizer


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(TINY_LLAMA, VOCAB, 0, 1, 2)


def test_model_folder_is_complete_and_loadable(tmp_path, model):
    write_tokenizer(tmp_path / "tok")
    info = {"name": "chck_1M", "words_seen": 1.0e6, "tokens_seen": 1333333, "step": 7}
    folder = checkpoint.save_model_folder(model, tmp_path / "tok", tmp_path / "checkpoints" / "chck_1M", info)
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "checkpoint.json"} <= names
    assert json.loads((folder / "checkpoint.json").read_text()) == info
    assert not list((tmp_path / "checkpoints").glob(".*.tmp-*"))
    loaded = AutoModelForCausalLM.from_pretrained(folder)
    assert next(loaded.parameters()).dtype == torch.float32
    tok = AutoTokenizer.from_pretrained(folder)
    ids = torch.tensor([tok("t3 t5 t7 t9")["input_ids"]])
    assert ids.tolist() == [[3, 5, 7, 9]]
    torch.testing.assert_close(loaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits, rtol=0, atol=0)
    copy = checkpoint.copy_model_folder(folder, tmp_path / "checkpoints" / "chck_2M", {**info, "name": "chck_2M"})
    assert json.loads((copy / "checkpoint.json").read_text())["name"] == "chck_2M"


def test_non_finite_weights_are_never_written(tmp_path, model):
    write_tokenizer(tmp_path / "tok")
    with torch.no_grad():
        model.model.norm.weight[0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        checkpoint.save_model_folder(model, tmp_path / "tok", tmp_path / "final", {"name": "final"})
    assert not (tmp_path / "final").exists()


def test_state_is_atomic_and_keeps_last_n(tmp_path):
    for step in (4, 8, 12):
        checkpoint.save_state(tmp_path, step, {"step": step, "w": torch.ones(3) * step}, keep_last=2)
    assert [p.name for p in checkpoint.list_states(tmp_path)] == ["step_00000008", "step_00000012"]
    # A half-written state (killed before the rename) is invisible to resume.
    (tmp_path / "state" / ".step_00000016.tmp-999").mkdir()
    (tmp_path / "state" / ".step_00000016.tmp-999" / "state.json").write_bytes(b"garbage")
    state = checkpoint.load_latest_state(tmp_path)
    assert state["step"] == 12 and torch.equal(state["w"], torch.full((3,), 12.0))
    checkpoint.save_state(tmp_path, 16, {"step": 16}, keep_last=2)
    assert checkpoint.load_latest_state(tmp_path)["step"] == 16
    assert checkpoint.load_latest_state(tmp_path / "nothing") is None


def test_state_round_trips_every_type_without_pickle(tmp_path, model):
    """Tuples, int keys, numpy RNG state, tied tensors and views all come back exactly."""
    opt = torch.optim.AdamW(model.parameters())
    model(input_ids=torch.tensor([[3, 4, 5]])).logits.sum().backward()
    opt.step()
    base = torch.arange(6.0)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "python": random.getstate(),
             "numpy": np.random.get_state(), "torch": torch.get_rng_state(), "pcg": np.random.default_rng(3).bit_generator.state,
             "odd": {"$tensor": 1, 2: (None, float("inf"))}, "views": [base[:3], base[3:], base], "np": np.float64(0.25)}
    checkpoint.save_state(tmp_path, 5, state, keep_last=1)
    assert not list((tmp_path / "state" / "step_00000005").glob("*.pt"))
    back = checkpoint.load_latest_state(tmp_path)
    assert back["python"] == state["python"] and back["pcg"] == state["pcg"] and back["odd"] == state["odd"]
    assert back["numpy"][0] == "MT19937" and np.array_equal(back["numpy"][1], state["numpy"][1])
    assert back["numpy"][1].dtype == state["numpy"][1].dtype and back["numpy"][2:] == state["numpy"][2:]
    assert type(back["np"]) is np.float64 and back["np"] == 0.25
    assert torch.equal(back["torch"], state["torch"]) and all(torch.equal(a, b) for a, b in zip(back["views"], state["views"]))
    for key, t in state["model"].items():
        assert torch.equal(back["model"][key], t)
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    for i, per in state["optimizer"]["state"].items():
        assert all(torch.equal(back["optimizer"]["state"][i][k], v) for k, v in per.items())
    random.setstate(back["python"])
    np.random.set_state(back["numpy"])


class _Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_planted_pickle_state_is_refused_and_never_run(tmp_path):
    folder = tmp_path / "state" / "step_00000004"
    folder.mkdir(parents=True)
    (folder / "state.pt").write_bytes(pickle.dumps({"x": _Planted(tmp_path / "marker")}))
    (folder / "meta.json").write_text('{"step": 4}')
    with pytest.raises(UserError, match="pickled training state"):
        checkpoint.load_latest_state(tmp_path)
    assert not (tmp_path / "marker").exists()


def test_a_damaged_newest_state_falls_back_to_the_previous_one(tmp_path, capsys):
    for step in (4, 8):
        checkpoint.save_state(tmp_path, step, {"step": step, "w": torch.ones(1000) * step}, keep_last=2)
    newest = tmp_path / "state" / "step_00000008" / "tensors.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])
    assert checkpoint.load_latest_state(tmp_path)["step"] == 4
    assert "damaged training state" in capsys.readouterr().err
    old = tmp_path / "state" / "step_00000004" / "state.json"
    old.write_text(old.read_text()[:20])
    with pytest.raises(UserError, match="no readable training state"):
        checkpoint.load_latest_state(tmp_path)


def test_a_failed_state_write_leaves_no_temporary_folder(tmp_path, monkeypatch):
    checkpoint.save_state(tmp_path, 4, {"step": 4}, keep_last=2)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_state", full)
    with pytest.raises(UserError, match="No space left on device"):
        checkpoint.save_state(tmp_path, 8, {"step": 8}, keep_last=2)
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["step_00000004"]
    assert checkpoint.load_latest_state(tmp_path)["step"] == 4


def test_a_full_disk_during_a_milestone_leaves_no_temporary_folder(tmp_path, model, monkeypatch):
    write_tokenizer(tmp_path / "tok")

    def full(folder, **kwargs):
        (Path(folder) / "model.safetensors").parent.mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save_pretrained", full)
    with pytest.raises(UserError, match=r"chck_1M: cannot write \(No space left on device\)"):
        checkpoint.save_model_folder(model, tmp_path / "tok", tmp_path / "checkpoints" / "chck_1M", {"name": "chck_1M"})
    assert list((tmp_path / "checkpoints").iterdir()) == []
