"""The native engine for the official lm-eval task YAMLs: refusals by name, rendering, and parity
with lm-eval's own hf model on every official task YAML whose data is in ../shared."""

from __future__ import annotations

import numpy as np
import pytest

from nestling.evaluation import lm_tasks
from nestling.evaluation.lm_tasks import UnsupportedTask, check_config, render_task

REFERENCE = "reference/babylm-eval/multilingual/tasks"
BASE = {"task": "t", "output_type": "multiple_choice", "doc_to_text": "", "doc_to_target": 0,
        "doc_to_choice": "{{[good, bad]}}", "metric_list": [{"metric": "acc", "aggregation": "mean"}]}


@pytest.mark.parametrize("change, named", [
    ({"process_results": "x"}, "'process_results'"),
    ({"num_fewshot": 5}, "num_fewshot 5"),
    ({"output_type": "loglikelihood"}, "output_type 'loglikelihood'"),
    ({"metric_list": [{"metric": "acc_mutual_info", "aggregation": "mean"}]}, "metric 'acc_mutual_info'"),
    ({"filter_list": [{"name": "x"}]}, "'filter_list'"),
    ({"description": "Answer:"}, "'description'"),
    ({"doc_to_choice": len}, "a Python function as doc_to_choice"),
    ({"some_new_key": 1}, "'some_new_key'"),
])
def test_unsupported_feature_is_refused_by_name(change, named):
    with pytest.raises(UnsupportedTask, match="does not implement " + named.replace("(", r"\(")):
        check_config("t", {**BASE, **change})
    check_config("t", BASE)


def test_render_columns_templates_and_targets():
    docs = [{"q": "Is it?", "good": "yes", "bad": "no", "label": "no"},
            {"q": "Or?", "good": "a", "bad": "b", "label": "a"}]
    config = {**BASE, "doc_to_text": "{{q}}\n", "doc_to_target": "label", "target_delimiter": ""}
    out = render_task("t", config, docs, list(docs[0]))
    assert out.contexts == ["Is it?\n", "Or?\n"] and out.choices == [["yes", "no"], ["a", "b"]]
    assert out.golds == [1, 0] and out.delimiter == ""
    out = render_task("t", {**config, "doc_to_target": "{{ 0 if good == 'a' else 1 }}"}, docs, list(docs[0]))
    assert out.golds == [1, 0]
    with pytest.raises(UnsupportedTask, match="multiple inputs"):
        render_task("t", {**config, "doc_to_text": "{{ 1 }}"}, docs, list(docs[0]))


def test_group_scores_weight_by_size():
    scores = {"a": {"acc": 1.0, "acc_stderr": 0.0, "n": 3}, "b": {"acc": 0.0, "acc_stderr": 0.0, "n": 1}}
    weighted = lm_tasks.group_scores({"aggregate_metric_list": [{"metric": "acc"}]}, ["a", "b", "c"], scores)
    plain = lm_tasks.group_scores({"aggregate_metric_list": [{"metric": "acc", "weight_by_size": False}]},
                                  ["a", "b"], scores)
    assert weighted["acc"] == 0.75 and plain["acc"] == 0.5
    assert lm_tasks.group_scores({"group": "g"}, ["a"], scores) is None


@pytest.fixture(scope="module")
def local_tasks(shared_data, tmp_path_factory):
    """Every official task YAML with data in ../shared (zhoblimp, BLiMP-NL), and the data map for them."""
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness not installed (pip install 'nestling[lmeval]')")
    from nestling.evaluation import multilingual as ml

    tasks_dir = shared_data.parent / REFERENCE
    if not tasks_dir.is_dir():
        pytest.skip(f"official babylm-eval task YAMLs not found at {tasks_dir}")
    path = tmp_path_factory.mktemp("map") / "map.yaml"
    path.write_text(f"zhoblimp_*: {shared_data}/eval/zhoblimp/data\n"
                    f"blimp_nl_*: {{data_files: {shared_data}/eval/blimp_nl/blimp-nl.jsonl, "
                    f"where: {{category: '{{dataset_name}}'}}}}\n")
    ml.go_offline()
    manager, trees = ml._resolve_trees(["zhoblimp", "blimp_nl"], tasks_dir)
    return manager, trees, ml.read_data_map(path)


LIMIT = 2  # items per task: every YAML is rendered and scored, the test stays fast


def test_every_local_task_equals_lmeval_hf(local_tasks, tiny_model_dir):
    """Accuracy equal and every request's log-likelihood within 1e-4 of lm-eval's hf model."""
    from lm_eval import simple_evaluate

    from nestling.evaluation import multilingual as ml
    from nestling.evaluation.evaluate import load_model

    manager, trees, data_map = local_tasks
    leaves = [n for tree in trees for n in ml._leaves(tree)]
    rendered, _, skipped = lm_tasks.load_rendered(manager, leaves, data_map, LIMIT, log=None)
    model, tokenizer = load_model(tiny_model_dir, device="cpu")
    prepared = lm_tasks.Suite(rendered).for_revision(tiny_model_dir, tokenizer)
    ours = lm_tasks.revision_lls(model, prepared, device="cpu", batch_size=64)
    objects, _, their_skipped = ml.build_tasks(manager, trees, data_map, log=None)
    lm = ml.make_lm(tiny_model_dir, backend="lm-eval", device="cpu", batch_size=64, trust_remote_code=False)
    raw = simple_evaluate(model=lm, tasks=objects, task_manager=manager, num_fewshot=0, log_samples=True,
                          limit=LIMIT)
    assert skipped == their_skipped and len(rendered) > 100
    for task in rendered:
        samples = sorted(raw["samples"][task.name], key=lambda s: s["doc_id"])
        theirs = np.array([ll for s in samples for ll, _ in s["filtered_resps"]])
        np.testing.assert_allclose(ours[task.name], theirs, atol=1e-4, rtol=0, err_msg=task.name)
        assert lm_tasks.task_scores(task, ours[task.name])["acc"] == raw["results"][task.name]["acc,none"], task.name
