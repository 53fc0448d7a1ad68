"""The run folder's one owner: names, revision order, and the files trainer, evaluation and export share."""

import datetime as dt
import json

from nestling import run_folder as rf
from nestling.recipe import dump_recipe, load_recipe


def test_run_dir_name_and_milestone_names():
    assert rf.run_dir_name("taam-v2", 0, dt.date(2026, 11, 22)) == "2026-11-22_taam-v2_seed0"
    names = rf.milestone_names()
    assert len(names) == 28 and names[0] == "chck_1M" and names[9] == "chck_10M" and names[-1] == "chck_1000M"
    assert sorted(names + ["final"], key=rf.revision_sort_key) == names + ["final"]
    assert rf.revision_words("chck_2.5K") == 2500 and rf.revision_words("final") is None
    assert not rf.is_revision_name("chck_1M; rm -rf") and rf.is_revision_name("chck_10M")


def test_model_folders_in_words_seen_order(tmp_path):
    for name, words in (("chck_10M", 30), ("chck_2M", 20), ("chck_1M", None)):
        folder = rf.checkpoint_dir(tmp_path, name)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        if words is not None:
            rf.write_checkpoint_info(folder, {"name": name, "words_seen": words})
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "config.json").write_text("{}")
    # chck_1M has no checkpoint.json: its name stands for 1e6 words, after the others' recorded counts.
    assert list(rf.model_folders(tmp_path)) == ["chck_2M", "chck_10M", "chck_1M", "final"]
    assert rf.is_run_dir(tmp_path) and not rf.is_run_dir(tmp_path / "final")
    assert rf.read_words_seen(tmp_path / "checkpoints" / "chck_2M") == 20


def test_summary_and_recipe_round_trip(tmp_path):
    rf.write_summary(tmp_path, {"name": "x", "finished": True})
    assert rf.read_summary(tmp_path) == {"name": "x", "finished": True}
    assert json.loads((tmp_path / rf.SUMMARY).read_text())["finished"] is True
    recipe = load_recipe("demo")
    rf.write_recipe(tmp_path, dump_recipe(recipe))
    assert load_recipe(tmp_path / rf.RECIPE).to_dict() == recipe.to_dict()
    assert rf.read_recipe(tmp_path)["name"] == "demo"


def test_a_folder_is_a_nestling_run_by_its_files(tmp_path):
    user = tmp_path / "myexp"
    user.mkdir()
    (user / "recipe.yaml").write_text("name: mine\n")  # the user's own recipe
    assert not rf.is_nestling_run(user) and rf.foreign_run_files(user) == ["recipe.yaml"]
    run = tmp_path / "run"
    rf.write_recipe(run, "name: x\n")
    assert rf.is_nestling_run(run) and rf.foreign_run_files(run) == []
    assert rf.read_recipe(run) == {"name": "x"}, "the header is a YAML comment"
    assert rf.foreign_run_files(tmp_path / "absent") == []
