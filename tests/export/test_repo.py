"""export_run: the repository layout, loading in a fresh process, and every bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.numpy import load_file

from nestling.errors import UserError
from nestling.export import export_run
from nestling.export import repo as repo_mod
from nestling.export.push import manifest


# Runs in a fresh interpreter where importing nestling fails, as on a machine that only has the export.
_LOADER = r"""
import importlib.abc, json, sys
class _NoNestling(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "nestling" or name.startswith("nestling."):
            raise ImportError("nestling must not be needed to load an export")
sys.meta_path.insert(0, _NoNestling())
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out = {}
for folder in sys.argv[1:]:
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    ids = torch.tensor([tok("the cat sat").input_ids])
    with torch.no_grad():
        logits = model(ids).logits
    out[folder] = {"embed_sum": float(model.get_input_embeddings().weight.detach().double().sum()),
                   "finite": bool(torch.isfinite(logits).all()), "class": type(model).__name__}
print("RESULT " + json.dumps(out))
"""


def load_in_fresh_process(folders: list[Path], tmp_path: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "hf_modules"),
           "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", _LOADER, *map(str, folders)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(lines[-1][len("RESULT "):])


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def embed_sum(folder: Path) -> float:
    weights = load_file(str(folder / "model.safetensors"))
    return float(weights["model.embed_tokens.weight"].astype("float64").sum())


def _clone(repo: Path, branch: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--branch", branch, str(repo), str(dest)], check=True)
    return dest


def test_exports_load_in_fresh_process(demo_run, exported, mixer_export, tmp_path):
    """Root and branches of the Llama export (and of the remote-code export) load without nestling.

    One subprocess loads every folder: a fresh interpreter importing torch + transformers is the slow part.
    """
    expected = {exported: demo_run / "final"}
    for branch in ("chck_1M", "chck_2M"):
        expected[_clone(exported, branch, tmp_path / branch)] = demo_run / "checkpoints" / branch
    folders = list(expected) + [mixer_export, _clone(mixer_export, "chck_1M", tmp_path / "mixer_chck_1M")]
    loaded = load_in_fresh_process(folders, tmp_path)
    for folder, source in expected.items():
        assert loaded[str(folder)]["finite"] and loaded[str(folder)]["class"] == "LlamaForCausalLM"
        # Each revision carries its own checkpoint's weights, not main's.
        assert loaded[str(folder)]["embed_sum"] == pytest.approx(embed_sum(source), rel=1e-6)
    assert len({round(loaded[str(f)]["embed_sum"], 6) for f in expected}) == 3
    assert {loaded[str(f)]["class"] for f in folders[3:]} == {"StreamMixerForCausalLM"}
    assert all(loaded[str(f)]["finite"] for f in folders[3:])


def test_branch_trees_equal_checkpoint_folders(demo_run, exported):
    assert set(repo_mod.list_branches(exported)) == {"main", "chck_1M", "chck_2M"}
    assert git(exported, "status", "--porcelain") == ""
    assert git(exported, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    for rev, source in [("main", demo_run / "final"), ("chck_1M", demo_run / "checkpoints/chck_1M"),
                        ("chck_2M", demo_run / "checkpoints/chck_2M")]:
        tree = manifest(exported, rev)
        files = {p.name for p in source.iterdir()}
        assert set(tree) == files | {"README.md"}
        for name in files - {"tokenizer_config.json"}:  # byte-identical: git's blob ids are equal
            assert tree[name][0] == git(exported, "hash-object", "--no-filters", str(source / name)).strip()
        # The tokenizer config is the run's plus the model's input names (see test_tokenizer_config_...).
        exported_config = json.loads(git(exported, "show", f"{rev}:tokenizer_config.json"))
        run_config = json.loads((source / "tokenizer_config.json").read_text())
        assert {k: v for k, v in exported_config.items() if k not in ("model_input_names", "tokenizer_class")} \
            == {k: v for k, v in run_config.items() if k != "tokenizer_class"}
        readme = git(exported, "show", f"{rev}:README.md")
        assert readme.startswith("---\n") and "# demo" in readme
        assert (f"revision **{rev}**" in readme) == (rev != "main")
    # Branches sit on top of main, as the Hub's create_branch makes them.
    main = git(exported, "rev-parse", "main").strip()
    assert git(exported, "rev-parse", "chck_1M^").strip() == main


def test_remote_code_export_carries_its_code(mixer_export):
    config = json.loads((mixer_export / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCausalLM"].startswith("modeling_stream_mixer.")
    for rev in ("main", "chck_1M", "chck_2M"):
        tree = manifest(mixer_export, rev)
        assert {"configuration_stream_mixer.py", "modeling_stream_mixer.py", "ops_stream_mixer.py"} <= set(tree)
    card = (mixer_export / "README.md").read_text()
    assert "trust_remote_code=True" in card and 'revision="chck_1M"' in card
    assert "## Language mixing" not in card  # a one-language run has no mixing table


def test_force_replaces_a_previous_export(demo_run, tmp_path):
    out = tmp_path / "repo"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(UserError, match="not empty"):
        export_run(demo_run, out)
    assert (out / "stale.txt").exists()
    export_run(demo_run, out, force=True)
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]  # no temp or old folders left


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def _break_truncate_weights(run):
    f = run / "checkpoints/chck_2M/model.safetensors"
    f.write_bytes(f.read_bytes()[:-64])


def _break_config(run):
    (run / "final/config.json").write_text("{not json")


def _break_no_final(run):
    shutil.rmtree(run / "final")


def _break_no_results(run):
    (run / "results.json").unlink()


def _break_missing_checkpoint(run):
    shutil.rmtree(run / "checkpoints/chck_1M")


def _break_bf16(run):
    from safetensors.numpy import save_file

    f = run / "final/model.safetensors"
    weights = load_file(str(f))
    save_file({k: v.astype("float16") for k, v in weights.items()}, str(f))


def _break_remote_code(run):
    config = json.loads((run / "final/config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_gone.GoneForCausalLM"}
    (run / "final/config.json").write_text(json.dumps(config))


def _break_no_tokenizer(run):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (run / "checkpoints/chck_1M" / name).unlink()


def _break_metrics_line(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[4] = "{broken"
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("breaker, message", [
    (_break_no_final, "unfinished run"),
    (_break_no_results, "no results.json"),
    (_break_truncate_weights, "unreadable safetensors"),
    (_break_config, "config.json: not readable JSON"),
    (_break_missing_checkpoint, "chck_1M/ is missing"),
    (_break_bf16, "F32"),
    (_break_remote_code, "modeling_gone.py is missing"),
    (_break_no_tokenizer, "no tokenizer files"),
    (_break_metrics_line, "metrics.jsonl:5"),
])
def test_bad_input_raises_one_line_and_writes_nothing(demo_run, tmp_path, breaker, message):
    run = _copy(demo_run, tmp_path)
    breaker(run)
    out = tmp_path / "exports" / "repo"
    with pytest.raises(UserError, match=message) as err:
        export_run(run, out)
    assert "\n" not in str(err.value)
    assert not out.exists()
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())


def test_unevaluated_run_exports_when_allowed(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    (run / "results.json").unlink()
    out = export_run(run, tmp_path / "repo", allow_unevaluated=True)
    card = (out / "README.md").read_text()
    assert "Not evaluated: the run has no `results.json`" in card


def test_export_inside_or_around_the_run_folder_is_refused(demo_run, tmp_path):
    run = _copy(demo_run, tmp_path)
    with pytest.raises(UserError, match="outside the run folder"):
        export_run(run, run / "export")
    # force on a folder that holds the run would delete the run itself
    with pytest.raises(UserError, match="outside the run folder"):
        export_run(run, tmp_path, force=True)
    assert (run / "final" / "model.safetensors").is_file()


def test_failure_midway_leaves_nothing(demo_run, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo_mod, "_commit_folder_as_branch", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        export_run(demo_run, tmp_path / "repo")
    assert list(tmp_path.iterdir()) == []


def test_export_accepts_relative_paths(demo_run, tmp_path, monkeypatch):
    """A run folder given relative to the working directory, as `nestling export runs/X` passes it."""
    monkeypatch.chdir(demo_run.parent)
    export_run(Path(demo_run.name), Path(os.path.relpath(tmp_path, demo_run.parent)) / "hub")
    assert (tmp_path / "hub" / "config.json").is_file()


def test_exported_tokenizer_names_the_model_inputs(exported, mixer_export):
    """Without model_input_names transformers 4.51.3 returns token_type_ids, which generate() rejects."""
    from transformers import AutoTokenizer

    for repo in (exported, mixer_export):
        for rev in ("main", "chck_1M"):
            config = json.loads(git(repo, "show", f"{rev}:tokenizer_config.json"))
            assert config["model_input_names"] == ["input_ids", "attention_mask"]
            assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # a class transformers 4 knows
        tokenizer = AutoTokenizer.from_pretrained(repo)
        assert set(tokenizer("The cat sat on the", return_tensors="pt")) == {"input_ids", "attention_mask"}


def test_remote_code_config_names_its_tokenizer_for_pipeline(demo_run, exported, mixer_export):
    """transformers 4.51.3's pipeline() loads no tokenizer for an unknown config type that names none."""
    from transformers import pipeline

    for rev in ("main", "chck_2M"):
        assert json.loads(git(mixer_export, "show", f"{rev}:config.json"))["tokenizer_class"] == "PreTrainedTokenizerFast"
    # A native Llama's config is the run's, byte for byte (transformers knows its tokenizer).
    assert (exported / "config.json").read_bytes() == (demo_run / "final" / "config.json").read_bytes()
    generator = pipeline("text-generation", model=str(mixer_export), trust_remote_code=True)
    assert generator("The cat sat on the", max_new_tokens=3, do_sample=False)[0]["generated_text"].startswith(
        "The cat sat on the")
