import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

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
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))
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
    (tmp_path / "state" / ".tmp-step_00000016").mkdir()
    (tmp_path / "state" / ".tmp-step_00000016" / "state.pt").write_bytes(b"garbage")
    state = checkpoint.load_latest_state(tmp_path)
    assert state["step"] == 12 and torch.equal(state["w"], torch.full((3,), 12.0))
    checkpoint.save_state(tmp_path, 16, {"step": 16}, keep_last=2)
    assert checkpoint.load_latest_state(tmp_path)["step"] == 16
    assert checkpoint.load_latest_state(tmp_path / "nothing") is None
