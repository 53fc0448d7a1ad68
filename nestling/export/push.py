"""Push an exported repository (see repo.py) to the Hugging Face Hub with ``huggingface_hub.HfApi``.

The plan: create the repo (exist_ok), upload ``main``, then for each ``chck_*`` branch create it from
``main`` and upload that checkpoint's tree into it, deleting the files it inherited from ``main``
so the branch holds exactly the checkpoint. A revision whose remote files already match the local
commit (same paths, same git blob ids or LFS sha256) is skipped, so an interrupted push resumes where
it stopped. Uploads come from the committed trees (``git archive``), never from the working tree.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from nestling.errors import UserError

from .repo import git, git_command, list_branches
from .run import revision_sort_key

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Files the Hub creates itself; an extra copy on the remote does not make a revision incomplete.
_HUB_OWNED = {".gitattributes"}


def local_revisions(repo: Path) -> list[str]:
    """``main`` first, then the checkpoint branches by words: the order the push uploads them."""
    branches = list_branches(repo)
    if "main" not in branches:
        raise UserError(f"{repo}: no main branch; is this a `nestling export` folder?")
    return ["main"] + sorted((b for b in branches if b != "main"), key=revision_sort_key)


def manifest(repo: Path, rev: str) -> dict[str, tuple[str, int]]:
    """{path: (git blob id, size)} of the committed tree of ``rev``."""
    out = {}
    for line in git(repo, "ls-tree", "-r", "-l", "--full-tree", rev).splitlines():
        meta, path = line.split("\t", 1)
        _mode, kind, sha, size = meta.split()
        if kind == "blob":
            out[path] = (sha, int(size))
    return out


def _blob_sha256(repo: Path, blob: str) -> str:
    h = hashlib.sha256()
    with subprocess.Popen(git_command(repo, "cat-file", "blob", blob), stdout=subprocess.PIPE) as proc:
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            h.update(chunk)
    if proc.returncode != 0:
        raise RuntimeError(f"git cat-file blob {blob} failed in {repo}")
    return h.hexdigest()


def remote_is_complete(api, repo_id: str, rev: str, local: dict[str, tuple[str, int]], repo: Path,
                       token=None) -> bool:
    """True when the Hub revision holds exactly the local files (Hub-owned files aside), byte for byte."""
    from huggingface_hub import RepoFile

    remote = {f.path: f for f in api.list_repo_tree(repo_id, revision=rev, recursive=True, token=token)
              if isinstance(f, RepoFile)}
    if set(remote) - set(local) - _HUB_OWNED:
        return False
    for path, (blob, size) in local.items():
        r = remote.get(path)
        if r is None or r.size != size:
            return False
        # The Hub reports an LFS file's pointer as its blob id, so compare the content hash instead.
        if r.lfs is not None:
            if r.lfs.sha256 != _blob_sha256(repo, blob):
                return False
        elif r.blob_id != blob:
            return False
    return True


def _materialize(repo: Path, rev: str, dest: Path) -> None:
    """Write the committed tree of ``rev`` into ``dest`` (``git archive`` piped into tarfile)."""
    with subprocess.Popen(git_command(repo, "archive", "--format=tar", rev), stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            # The "data" filter refuses absolute paths and links out of dest (Python >= 3.11.4).
            tar.extractall(dest, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    if proc.returncode != 0:
        raise RuntimeError(f"git archive {rev} failed in {repo}")


def _size(local: dict[str, tuple[str, int]]) -> str:
    total = sum(size for _, size in local.values())
    return f"{total / 1e6:.1f} MB" if total >= 1e5 else f"{total:,} bytes"


def _hub_call(what: str, fn, *args, **kwargs):
    """Call the Hub; its refusals (auth, network, missing repo) become one-line UserErrors."""
    # errors.HTTPError is the HTTP client's base error (status and transport errors alike), whichever
    # client this huggingface_hub version uses; HfHubHTTPError derives from it.
    from huggingface_hub.errors import HfHubHTTPError, HTTPError, LocalTokenNotFoundError

    try:
        return fn(*args, **kwargs)
    except (HfHubHTTPError, LocalTokenNotFoundError) as e:
        raise UserError(f"Hub refused to {what}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except (HTTPError, OSError) as e:
        raise UserError(f"could not reach the Hub to {what}: {e}") from None


def _check_repo(repo: Path, repo_id: str) -> None:
    if not _REPO_ID_RE.match(repo_id):
        raise UserError(f"--repo-id {repo_id!r}: expected OWNER/NAME (letters, digits, '-', '_', '.')")
    if not (repo / ".git").exists():
        raise UserError(f"{repo}: not a git repository; create it with `nestling export RUN_DIR --out {repo}`")


def push_repo(repo_dir: str | Path, repo_id: str, *, dry_run: bool = False, token: str | None = None,
              private: bool = False, api=None, log: Callable[[str], None] | None = None) -> list[str]:
    """Upload an exported repository to the Hub as ``repo_id``; return the actions, one line each.

    ``dry_run``: contact nothing and return the full plan (every revision as if the repo were new).
    ``token``: Hub token (default: the one ``huggingface-cli login`` stored or $HF_TOKEN).
    ``private``: create the repository private. ``api``: an ``HfApi`` to use (default: a new one).
    ``log``: called with each action as it happens (the CLI prints them).
    Revisions already complete on the Hub are skipped, so re-running resumes an interrupted push.
    """
    repo = Path(repo_dir)
    _check_repo(repo, repo_id)
    revisions = local_revisions(repo)
    manifests = {rev: manifest(repo, rev) for rev in revisions}
    actions: list[str] = []

    def act(line: str) -> None:
        actions.append(line)
        if log is not None:
            log(line)

    if dry_run:
        act(f"create repo {repo_id} ({'private' if private else 'public'}) unless it exists")
        for rev in revisions:
            if rev != "main":
                act(f"create branch {rev} from main")
            act(f"upload {rev}: {len(manifests[rev])} files, {_size(manifests[rev])}")
        return actions
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    url = _hub_call(f"create {repo_id}", api.create_repo, repo_id, private=private, exist_ok=True,
                    repo_type="model", token=token)
    act(f"repo {repo_id} ready ({url})")
    refs = _hub_call(f"list branches of {repo_id}", api.list_repo_refs, repo_id, token=token)
    remote_branches = {b.name for b in refs.branches}
    for rev in revisions:
        _push_revision(api, repo, repo_id, rev, manifests[rev], rev == "main" or rev in remote_branches, token, act)
    return actions


def _push_revision(api, repo: Path, repo_id: str, rev: str, local: dict, exists: bool, token, act) -> None:
    if not exists:
        _hub_call(f"create branch {rev}", api.create_branch, repo_id, branch=rev, revision="main",
                  exist_ok=True, token=token)
        act(f"create branch {rev} from main")
    elif _hub_call(f"list files of {rev}", remote_is_complete, api, repo_id, rev, local, repo, token=token):
        act(f"skip {rev}: already complete on the Hub")
        return
    with tempfile.TemporaryDirectory(prefix="nestling-push-") as tmp:
        _materialize(repo, rev, Path(tmp))
        subject = git(repo, "log", "-1", "--format=%s", rev).strip()
        # delete_patterns="*": files inherited from main (or left by an older push) go; the Hub keeps
        # .gitattributes regardless.
        info = _hub_call(f"upload {rev}", api.upload_folder, repo_id=repo_id, folder_path=tmp, revision=rev,
                         commit_message=subject, delete_patterns="*", token=token)
    oid = getattr(info, "oid", None)
    act(f"upload {rev}: {len(local)} files, {_size(local)}" + (f" -> commit {oid[:10]}" if oid else ""))
