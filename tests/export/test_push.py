"""push_repo against huggingface_hub.HfApi with its Hub calls faked in memory (there is no Hub here)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import GitRefInfo, GitRefs, RepoFile

from nestling.errors import UserError
from nestling.export import push_repo
from nestling.export.push import manifest


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _http_error(status: int, url: str):
    """A real HfHubHTTPError, built with the HTTP client this huggingface_hub version uses."""
    from huggingface_hub import errors

    http = sys.modules[errors.Response.__module__.split(".")[0]]
    response = http.Response(status, request=http.Request("POST", url))
    return errors.HfHubHTTPError(f"{status} Server Error (simulated) for url: {url}", response=response)


class FakeHub:
    """The few Hub endpoints push_repo uses, kept in a dict: {repo: {branch: {path: bytes}}}.

    Like the real Hub, *.safetensors files are LFS (their blob id is the pointer's, the sha256 is the
    content's), a new repo's main holds .gitattributes, and upload_folder keeps .gitattributes.
    """

    def __init__(self):
        self.repos: dict[str, dict[str, dict[str, bytes]]] = {}
        self.calls: list[tuple] = []
        self.fail_upload: set[str] = set()

    def create_repo(self, api, repo_id, *, private=None, exist_ok=False, repo_type=None, token=None, **kw):
        self.calls.append(("create_repo", repo_id, private))
        self.repos.setdefault(repo_id, {"main": {".gitattributes": b"*.safetensors filter=lfs\n"}})
        return f"https://huggingface.co/{repo_id}"

    def list_repo_refs(self, api, repo_id, **kw):
        return GitRefs(branches=[GitRefInfo(name=b, ref=f"refs/heads/{b}", target_commit="0" * 40)
                                 for b in self.repos[repo_id]], converts=[], tags=[])

    def create_branch(self, api, repo_id, *, branch, revision=None, exist_ok=False, token=None, **kw):
        self.calls.append(("create_branch", branch, revision))
        self.repos[repo_id].setdefault(branch, dict(self.repos[repo_id][revision or "main"]))

    def list_repo_tree(self, api, repo_id, path_in_repo=None, *, recursive=False, revision=None, **kw):
        for path, data in self.repos[repo_id][revision or "main"].items():
            if path.endswith(".safetensors"):
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
                yield RepoFile(path=path, size=len(data), oid=_blob_id(pointer.encode()),
                               lfs={"size": len(data), "oid": hashlib.sha256(data).hexdigest(), "pointerSize": 130})
            else:
                yield RepoFile(path=path, size=len(data), oid=_blob_id(data))

    def upload_folder(self, api, *, repo_id, folder_path, revision=None, commit_message=None, delete_patterns=None,
                      token=None, **kw):
        self.calls.append(("upload_folder", revision, commit_message))
        if revision in self.fail_upload:
            raise _http_error(503, f"https://huggingface.co/api/models/{repo_id}/commit/{revision}")
        branch = self.repos[repo_id][revision]
        if delete_patterns == "*":
            for path in [p for p in branch if p != ".gitattributes"]:
                del branch[path]
        for f in Path(folder_path).rglob("*"):
            if f.is_file():
                branch[f.relative_to(folder_path).as_posix()] = f.read_bytes()


@pytest.fixture
def hub(monkeypatch):
    fake = FakeHub()
    for name in ("create_repo", "list_repo_refs", "create_branch", "list_repo_tree", "upload_folder"):
        method = getattr(fake, name)
        monkeypatch.setattr(HfApi, name, lambda api, *a, _m=method, **k: _m(api, *a, **k))
    return fake


def _local_files(repo: Path, rev: str) -> dict[str, bytes]:
    return {path: subprocess.run(["git", "-C", str(repo), "cat-file", "blob", sha], capture_output=True,
                                 check=True).stdout for path, (sha, _) in manifest(repo, rev).items()}


def test_dry_run_lists_every_branch_and_calls_nothing(exported, hub):
    plan = push_repo(exported, "me/demo", dry_run=True)
    assert plan[0].startswith("create repo me/demo (public)")
    assert [line.split(":")[0] for line in plan[1:]] == [
        "upload main", "create branch chck_1M from main", "upload chck_1M", "create branch chck_2M from main",
        "upload chck_2M"]
    assert hub.calls == []


def test_push_creates_every_branch_then_skips_complete_ones(exported, hub):
    logged = []
    actions = push_repo(exported, "me/demo", token="hf_fake", private=True, log=logged.append)
    assert logged == actions
    assert ("create_repo", "me/demo", True) in hub.calls
    assert [c[1] for c in hub.calls if c[0] == "create_branch"] == ["chck_1M", "chck_2M"]
    assert [c[1] for c in hub.calls if c[0] == "upload_folder"] == ["main", "chck_1M", "chck_2M"]
    for rev in ("main", "chck_1M", "chck_2M"):
        remote = {p: d for p, d in hub.repos["me/demo"][rev].items() if p != ".gitattributes"}
        assert remote == _local_files(exported, rev)  # exactly the checkpoint: main's files were replaced
    hub.calls.clear()
    again = push_repo(exported, "me/demo")
    assert [c[0] for c in hub.calls] == ["create_repo"]
    assert [a for a in again if a.startswith("skip")] == [f"skip {r}: already complete on the Hub"
                                                         for r in ("main", "chck_1M", "chck_2M")]


def test_interrupted_push_resumes_with_the_unfinished_branch(exported, hub):
    hub.fail_upload = {"chck_2M"}
    with pytest.raises(UserError, match="Hub refused to upload chck_2M: 503"):
        push_repo(exported, "me/demo")
    assert "chck_2M" in hub.repos["me/demo"]  # created, but still holding main's files
    hub.fail_upload, hub.calls = set(), []
    actions = push_repo(exported, "me/demo")
    assert [c[1] for c in hub.calls if c[0] == "upload_folder"] == ["chck_2M"]
    assert {"skip main: already complete on the Hub", "skip chck_1M: already complete on the Hub"} <= set(actions)
    remote = {p: d for p, d in hub.repos["me/demo"]["chck_2M"].items() if p != ".gitattributes"}
    assert remote == _local_files(exported, "chck_2M")


def test_changed_file_on_hub_is_uploaded_again(exported, hub):
    push_repo(exported, "me/demo")
    hub.repos["me/demo"]["chck_1M"]["model.safetensors"] += b"x"
    hub.calls.clear()
    push_repo(exported, "me/demo")
    assert [c[1] for c in hub.calls if c[0] == "upload_folder"] == ["chck_1M"]


@pytest.mark.parametrize("repo_id", ["noslash", "a/b/c", "/name", "me/"])
def test_bad_repo_id(exported, repo_id):
    with pytest.raises(UserError, match="OWNER/NAME"):
        push_repo(exported, repo_id, dry_run=True)


def test_not_an_export(tmp_path):
    with pytest.raises(UserError, match="not a git repository"):
        push_repo(tmp_path, "me/demo", dry_run=True)
