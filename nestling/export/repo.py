"""Export a finished run as a Hugging Face model repository that is also a local git repository.

Layout of ``out_dir`` (what the BabyLM pipeline pulls by revision):
- branch ``main`` (checked out): the final model folder + ``README.md`` (the model card);
- one branch per checkpoint (``chck_1M``, ``chck_2M``, ...): exactly that checkpoint's model folder
  + a README.md noting the revision. Each branch's parent is ``main``'s commit, as on the Hub, where a
  branch is created from ``main`` and its files replaced.

We drive the ``git`` command: the checkpoint branches are built with plumbing (hash-object,
update-index on a private index, write-tree, commit-tree) so no checkpoint is ever copied through
the working tree. Weights are plain git blobs, not LFS: ``nestling push`` uploads through
``huggingface_hub``, which handles large files itself. Everything is built in a hidden folder beside
``out_dir`` and renamed into place at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from nestling.data.tokenizer import MODEL_INPUT_NAMES
from nestling.errors import UserError
from nestling.files import (TMP_MARK, check_output, folder_bytes, is_inside, output_lock, refuse_overlap,
                            remove_stale_temporaries, temporary_sibling)

from .card import fmt_int, render_card
from .run import Checkpoint, Run, load_run, read_json, require_exportable

# Fixed identity: the export must not depend on (or fail for lack of) the user's git config.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "nestling", "GIT_AUTHOR_EMAIL": "nestling@localhost",
                "GIT_COMMITTER_NAME": "nestling", "GIT_COMMITTER_EMAIL": "nestling@localhost"}
# Keep any global git-lfs or hook configuration out of the export; weights are stored verbatim.
# Compression 0: float32 weights barely deflate (-10% on disk) but zlib took ~2/3 of the export time.
# A global ignore file must not drop weights either (some people ignore *.safetensors).
_GIT_SETTINGS = ("core.hooksPath=/dev/null", "core.attributesFile=/dev/null", "core.excludesFile=/dev/null",
                 "core.autocrlf=false", "filter.lfs.required=false", "filter.lfs.clean=", "filter.lfs.smudge=",
                 "filter.lfs.process=", "commit.gpgsign=false", "core.loosecompression=0", "core.compression=0")
_GIT_CONFIG = [arg for setting in _GIT_SETTINGS for arg in ("-c", setting)]
TOKENIZER_CONFIG = "tokenizer_config.json"
# transformers 5 saves a plain fast tokenizer under a class name transformers 4 does not know.
_PORTABLE_TOKENIZER_CLASS = {"TokenizersBackend": "PreTrainedTokenizerFast"}


def git_command(repo: Path, *args: str) -> list[str]:
    """The argv of ``git -C repo args...`` with the export's fixed configuration."""
    return ["git", "-C", str(repo), *_GIT_CONFIG, *args]


def git(repo: Path, *args: str, input: bytes | None = None, env: dict | None = None) -> str:
    """Run ``git -C repo args...`` and return stdout; a failure raises RuntimeError with git's message."""
    full_env = {**os.environ, **GIT_IDENTITY, **(env or {})}
    try:
        proc = subprocess.run(git_command(repo, *args), input=input, env=full_env,
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise UserError("the `git` command was not found; export and push need git installed") from None
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode()


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder, relative, sorted; caches and hidden files are not part of a model."""
    files = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            files.append(rel)
    return files


def _json_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def exported_texts(folder: Path) -> dict[str, str]:
    """The files of a model folder that the export rewrites, {name: text}; every other file is copied as is.

    - tokenizer_config.json: the model's inputs named (`MODEL_INPUT_NAMES`; runs whose tokenizer predates
      it lack them) and a tokenizer class every supported transformers loads.
    - config.json of a remote-code model: `tokenizer_class` too. transformers 4.51.3's `pipeline()` loads a
      tokenizer only for a config type it knows or one naming its tokenizer class; otherwise it runs with
      none and fails ("'NoneType' object is not callable").
    """
    texts = {}
    tokenizer_class = None
    if (folder / TOKENIZER_CONFIG).is_file():
        config = read_json(folder / TOKENIZER_CONFIG)
        tokenizer_class = _PORTABLE_TOKENIZER_CLASS.get(config.get("tokenizer_class"), config.get("tokenizer_class"))
        config.update(model_input_names=MODEL_INPUT_NAMES, tokenizer_class=tokenizer_class)
        texts[TOKENIZER_CONFIG] = _json_text({k: v for k, v in config.items() if v is not None})
    model_config = read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    if model_config.get("auto_map") and tokenizer_class and not model_config.get("tokenizer_class"):
        texts["config.json"] = _json_text({**model_config, "tokenizer_class": tokenizer_class})
    return texts


def _commit_folder_as_branch(repo: Path, folder: Path, branch: str, readme: str, parent: str, message: str) -> str:
    """Commit ``folder``'s files (+ README.md text) as the whole tree of ``branch``; return the commit id.

    README.md and the files `exported_texts` rewrites are the export's own texts, not the folder's files."""
    written = {**exported_texts(folder), "README.md": readme}
    files = [rel for rel in model_files(folder) if rel.as_posix() not in written]
    paths = "\n".join(str(folder / rel) for rel in files) + "\n"
    blob_ids = git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths", input=paths.encode()).split()
    entries = [f"100644 {sha}\t{rel.as_posix()}" for sha, rel in zip(blob_ids, files)]
    for name, text in written.items():
        sha = git(repo, "hash-object", "-w", "--stdin", input=text.encode()).strip()
        entries.append(f"100644 {sha}\t{name}")
    with tempfile.TemporaryDirectory(dir=repo / ".git") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}  # a private index: main's stays untouched
        git(repo, "update-index", "--add", "--index-info", input=("\n".join(entries) + "\n").encode(), env=env)
        tree = git(repo, "write-tree", env=env).strip()
    commit = git(repo, "commit-tree", tree, "-p", parent, "-m", message).strip()
    git(repo, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def _build(run: Run, tmp: Path, *, compare: Run | None, card_kwargs: dict) -> None:
    final: Checkpoint = run.final
    for rel in model_files(final.path):
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(final.path / rel, tmp / rel)
    for name, text in exported_texts(final.path).items():
        (tmp / name).write_text(text, encoding="utf-8")
    (tmp / "README.md").write_text(render_card(run, compare=compare, **card_kwargs), encoding="utf-8")
    git(tmp, "init", "-q", "-b", "main")
    # -f: a global ignore file (some people ignore *.safetensors) must not drop weights from the commit.
    git(tmp, "add", "-A", "-f")
    git(tmp, "commit", "-q", "-m", f"final model ({fmt_int(final.words_seen)} words seen)")
    _verify_tree(tmp, "main", final.path)
    head = git(tmp, "rev-parse", "HEAD").strip()
    for ck in run.checkpoints:
        readme = render_card(run, compare=compare, revision=ck, **card_kwargs)
        message = f"{ck.name} ({fmt_int(ck.words_seen)} words seen)"
        _commit_folder_as_branch(tmp, ck.path, ck.name, readme, head, message)
        _verify_tree(tmp, ck.name, ck.path)


def _verify_tree(repo: Path, rev: str, folder: Path) -> None:
    """The committed tree of ``rev`` must hold exactly the model folder's files plus README.md."""
    committed = set(git(repo, "ls-tree", "-r", "--name-only", "--full-tree", rev).splitlines())
    expected = {rel.as_posix() for rel in model_files(folder)} | {"README.md"}
    if committed != expected:
        raise RuntimeError(f"export of {folder} as {rev}: committed {sorted(committed ^ expected)} differ")


def _check_out_dir(out: Path, run: Run, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"{out}: folder is not empty; choose another --out or pass --force to replace it")
    run_path, out_path = run.path.resolve(), out.resolve()
    if out_path == run_path or run_path in out_path.parents or out_path in run_path.parents:
        raise UserError(f"{out}: the export folder must lie outside the run folder {run.path}")


def export_run(run_dir: str | Path, out_dir: str | Path, *, force: bool = False, compare: str | Path | None = None,
               allow_unevaluated: bool = False, repo_id: str | None = None, license: str = "apache-2.0",
               datasets: list[str] | None = None) -> Path:
    """Write the run in ``run_dir`` as a Hub-layout git repository at ``out_dir``; return ``out_dir``.

    ``force``: replace a non-empty ``out_dir`` (only after the new export is complete).
    ``compare``: another run folder whose results become the card's Delta column.
    ``allow_unevaluated``: export a run without results.json; its card then says "not evaluated".
    ``repo_id``, ``license``, ``datasets``: model card metadata (see `render_model_card`).
    Raises UserError for an unfinished run, a corrupt checkpoint, a missing results.json (unless
    allowed) or a non-empty ``out_dir`` without ``force``; nothing is written in those cases.
    """
    # Absolute paths: git runs with the new repository as its working directory.
    run = load_run(Path(run_dir).resolve())
    require_exportable(run, allow_unevaluated=allow_unevaluated)
    other = load_run(Path(compare).resolve()) if compare is not None else None
    out = Path(out_dir).resolve()
    _check_out_dir(out, run, force)
    if other is not None:
        refuse_overlap(out, [other.path])
    folders = [run.final.path, *(ck.path for ck in run.checkpoints)]
    _refuse_outside_links(run.path, folders)
    out.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        remove_stale_temporaries(out.parent, out.name)
        # The export holds every model folder once as a blob (+ the checked-out final model).
        check_output(out, sum(folder_bytes(f) for f in folders) + folder_bytes(run.final.path), "the export")
        tmp = temporary_sibling(out)
        tmp.mkdir()
        try:
            _build(run, tmp, compare=other, card_kwargs=dict(repo_id=repo_id, license=license, datasets=datasets))
            _replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out


def _refuse_outside_links(run_dir: Path, folders: list[Path]) -> None:
    """A link in a model folder to a file outside the run would publish that file: refused."""
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_symlink() and not is_inside(path, run_dir):
                raise UserError(f"{path.relative_to(run_dir.parent)}: a link outside the run, to "
                                f"{os.path.realpath(path)}; replace it with the file itself to export it")


def _replace(new: Path, out: Path) -> None:
    """Move the finished export into place; an old ``out`` is moved aside first and deleted last."""
    old = None
    if out.exists():
        old = out.parent / f".{out.name}{TMP_MARK}old-{uuid.uuid4().hex[:8]}"
        out.rename(old)
    try:
        new.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def list_branches(repo: Path) -> list[str]:
    """Local branch names of an exported repository."""
    return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split()

