"""`nestling data prepare`: clean every language's files, count words, certify the budget.

Writes ``out_dir/clean/<lang>.txt`` and ``out_dir/ledger.json`` (schema in docs/architecture.md)
into a temporary sibling folder and renames it into place at the very end, so a failed or
interrupted run leaves no half-written dataset. Files are cleaned in parallel worker processes
(one file, or one slice of a big file, per task); their outputs are concatenated in input order,
so results do not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from nestling.data import counting
from nestling.data.cleaning import FORMAT_ALIASES, FORMATS, Cleaner, rule_names
from nestling.data.formats import (BAD_LINE_POLICIES, BadInput, detect_format, list_files, read_blocks, sniff,
                                   split_ranges)
from nestling.errors import UserError
from nestling.files import (TMP_MARK, check_output, output_lock, refuse_overlap, remove_stale_temporaries,
                            temporary_sibling)

# Below this many input bytes, worker processes cost more than they save.
PARALLEL_MIN_BYTES = 8 << 20
# Files bigger than twice this are cleaned in slices of about this size, in parallel.
SLICE_BYTES = 8 << 20
# Drops are never silent, the one rule: the lines of a file dropped as unreadable in its format (what
# --on-bad-line skip drops: invalid UTF-8, over-long lines, broken CHAT markup) may be at most this
# share of its lines, unless the user allows more (--allow-drops, data.allow_drops; recorded in the
# ledger). Lines a format means to drop (CHAT headers and %-tiers, subtitle timings, blank lines) and
# child speech dropped on request are not counted: they are not text lost by mistake.
MAX_DROP_SHARE = 0.05


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("nestling")
    except Exception:  # noqa: BLE001 - an uninstalled checkout still prepares data
        return "0.1.0"


def clean_slice(path: Path, lang: str, fmt: str, out_path: Path, *, start: int = 0, end: int | None = None,
                first_lineno: int = 1, keep_child: bool = True, on_bad_line: str = "error") -> dict:
    """Clean bytes ``[start, end)`` of one file into ``out_path``; return raw counts for the ledger.

    Kept lines are written with "\\n" in batches; whitespace words are counted on the written
    bytes (cleaned lines are single-spaced and trimmed, so words = spaces + lines).
    """
    info: dict = {}
    drops: Counter = Counter()
    speakers: Counter = Counter()
    # Bad lines are counted in drops too; this counts them alone, for the rule on drops.
    bad: Counter = Counter()
    kept = n_bytes = ws_words = 0
    cleaner = Cleaner(fmt, keep_child=keep_child, lang=lang)
    blocks = _checked(read_blocks(path, info, start, end, first_lineno), path, fmt, on_bad_line, (drops, bad))
    with open(out_path, "wb") as out:
        for texts in _kept_batches(cleaner, blocks, path, on_bad_line, (drops, bad), speakers):
            if not texts:
                continue
            data = ("\n".join(texts) + "\n").encode("utf-8")
            out.write(data)
            kept, n_bytes, ws_words = kept + len(texts), n_bytes + len(data), ws_words + data.count(b" ") + len(texts)
    return {"lines_kept": kept, "bytes": n_bytes, "whitespace_words": ws_words, "drops": drops, "bad": bad,
            "speakers": speakers, "line_endings": info["line_endings"] if "line_endings" in info else "lf"}


BATCH_LINES = 4096


def _kept_batches(cleaner: Cleaner, blocks: Iterator, path: Path, on_bad_line: str, counters: tuple[Counter, Counter],
                  speakers: Counter) -> Iterator[list[str]]:
    """Kept texts in batches (a read block, or ``BATCH_LINES``); counts dropped (and bad) lines and speakers."""
    drops, bad = counters
    if cleaner.block_safe:
        # Plain text: a few passes over a joined block instead of a few calls per line.
        for _, texts in blocks:
            results = cleaner.clean_block(texts)
            kept = [text for text, reason in results if reason is None]
            if len(kept) < len(results):
                drops.update(reason for _, reason in results if reason is not None)
            yield kept
        return
    lines = ((n, text) for first, texts in blocks for n, text in zip(range(first, first + len(texts)), texts))
    kept = []
    for line in cleaner(lines):
        if line.dropped is not None:
            if line.bad is not None and on_bad_line == "error":
                raise UserError(f"{path}:{line.lineno}: {line.bad} {_bad_line_advice(cleaner.fmt)}")
            if line.bad is not None:
                bad[line.dropped] += 1
            drops[line.dropped] += 1
            continue
        kept.append(line.text)
        if line.speaker is not None:
            speakers[line.speaker] += 1
        if len(kept) >= BATCH_LINES:
            yield kept
            kept = []
    yield kept


def _file_entry(path: Path, lang: str, fmt: str, slices: list[dict], sha: str, track: str) -> dict:
    """Merge the counts of a file's slices into its ledger entry."""
    drops, speakers, bad = Counter(), Counter(), Counter()
    for counts in slices:
        drops.update(counts["drops"])
        speakers.update(counts["speakers"])
        bad.update(counts["bad"])
    n_bytes = sum(c["bytes"] for c in slices)
    ws_words = sum(c["whitespace_words"] for c in slices)
    endings = {c["line_endings"] for c in slices}
    entry = {
        "path": str(path), "lang": lang, "format": fmt, "input_bytes": Path(path).stat().st_size, "bytes": n_bytes,
        "lines_kept": sum(c["lines_kept"] for c in slices), "lines_dropped": sum(drops.values()),
        "drop_reasons": dict(sorted(drops.items())), "bad_lines": dict(sorted(bad.items())),
        "words": counting.budget_words(ws_words, n_bytes, lang, track), "whitespace_words": ws_words,
        "english_word_equivalents": counting.english_word_equivalents(n_bytes, lang),
        "sha256": sha, "rules": rule_names(fmt, lang),
        "line_endings": "crlf" if "crlf" in endings else ("cr" if "cr" in endings else "lf"),
    }
    if speakers:
        entry["speakers"] = dict(speakers.most_common())
    if entry["input_bytes"] == 0:
        entry["empty"] = True
    return entry


def _checked(blocks, path: Path, fmt: str, on_bad_line: str, counters: tuple[Counter, Counter]):
    """Apply the bad-line policy to unreadable lines; pass blocks of readable ones on."""
    for item in blocks:
        if isinstance(item, BadInput):
            if on_bad_line == "error":
                raise UserError(f"{path}:{item.lineno}: {item.message} {_bad_line_advice(fmt)}")
            for counter in counters:
                counter[item.reason] += 1
            continue
        yield item


def _bad_line_advice(fmt: str) -> str:
    return (f"(read as {fmt}; set a file's format with --lang LANG=PATH:FORMAT, or use --on-bad-line skip "
            "to drop such lines)")


def check_drops(entries: list[dict], allow_drops: bool) -> None:
    """The rule on drops (``MAX_DROP_SHARE``): refuse a file that lost too many lines as bad, naming
    the file, the rule that dropped them and the share."""
    for entry in entries:
        total = entry["lines_kept"] + entry["lines_dropped"]
        bad = sum(entry["bad_lines"].values())
        if allow_drops or not total or bad / total <= MAX_DROP_SHARE:
            continue
        rule = max(entry["bad_lines"], key=entry["bad_lines"].get)
        raise UserError(f"{entry['path']}: {bad / total:.1%} of its lines ({bad:,} of {total:,}) dropped by rule "
                        f"{rule} (read as {entry['format']}, {entry['format_from']}), over the "
                        f"{MAX_DROP_SHARE:.0%} limit; set its format (--lang {entry['lang']}=PATH:FORMAT) "
                        "or pass --allow-drops (recorded in the ledger)")


def _clean_job(job: tuple) -> dict:
    path, lang, fmt, out_path, kwargs = job
    return clean_slice(path, lang, fmt, out_path, **kwargs)


def split_format(source: str | Path) -> tuple[Path, str | None]:
    """``PATH:FORMAT`` -> (PATH, FORMAT) when FORMAT names a format (or an alias) and the whole text is not
    itself an existing path; anything else is (the path, None: detect per file)."""
    text = str(source)
    path, sep, name = text.rpartition(":")
    name = name.strip().lower()
    if sep and path and (name in FORMATS or name in FORMAT_ALIASES) and not Path(text).exists():
        return Path(path), FORMAT_ALIASES.get(name, name)
    return Path(text), None


def _check_args(sources: dict, track: str, fmt: str | None,
                on_bad_line: str) -> dict[str, list[tuple[Path, str | None]]]:
    counting.track(track)
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)} (or {', '.join(FORMAT_ALIASES)})")
    if on_bad_line not in BAD_LINE_POLICIES:
        raise UserError(f"unknown --on-bad-line {on_bad_line!r}; choose one of: {', '.join(BAD_LINE_POLICIES)}")
    if not sources:
        raise UserError("no input: give at least one --lang CODE=PATH")
    merged: dict[str, list[tuple[Path, str | None]]] = {}
    for code, paths in sources.items():
        lang = counting.language(code).code
        paths = [paths] if isinstance(paths, (str, Path)) else paths
        if any(isinstance(p, str) and not p.strip() for p in paths):
            raise UserError(f"{code}: empty path (it would read the whole current folder)")
        merged.setdefault(lang, []).extend(split_format(p) for p in paths)
    return merged


def _run_jobs(jobs: list[tuple], workers: int | None, desc: str) -> list[dict]:
    def size(job: tuple) -> int:
        kw = job[4]
        return kw["end"] - kw["start"]

    total = sum(size(job) for job in jobs)
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=None)
    results = []
    if workers <= 1 or total < PARALLEL_MIN_BYTES:
        for job in jobs:
            results.append(_clean_job(job))
            bar.update(size(job))
    else:
        # fork: the workers only run pure-Python cleaning, and start in milliseconds.
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with ctx.Pool(workers) as pool:
            for job, counts in zip(jobs, pool.imap(_clean_job, jobs)):
                results.append(counts)
                bar.update(size(job))
    bar.close()
    return results


def _concatenate(parts: list[Path], owners: list[int], out_path: Path) -> tuple[str, list[str]]:
    """Join slice outputs into ``out_path``; return its sha256 and each owning file's sha256."""
    total, per_file = hashlib.sha256(), {}
    with open(out_path, "wb") as out:
        for part, owner in zip(parts, owners):
            sha = per_file.setdefault(owner, hashlib.sha256())
            with open(part, "rb") as f:
                while chunk := f.read(1 << 22):
                    total.update(chunk)
                    sha.update(chunk)
                    out.write(chunk)
            part.unlink()
    return total.hexdigest(), [per_file[i].hexdigest() for i in sorted(per_file)]


def _language_entry(lang: str, entries: list[dict], sha: str, track: str) -> dict:
    n_bytes = sum(e["bytes"] for e in entries)
    ws_words = sum(e["whitespace_words"] for e in entries)
    drops: Counter = Counter()
    for e in entries:
        drops.update(e["drop_reasons"])
    limit = counting.track(track).limit_words
    target = counting.byte_target(lang, limit)
    return {
        "files": len(entries), "bytes": n_bytes, "lines_kept": sum(e["lines_kept"] for e in entries),
        "lines_dropped": sum(e["lines_dropped"] for e in entries), "drop_reasons": dict(sorted(drops.items())),
        "words": counting.budget_words(ws_words, n_bytes, lang, track), "whitespace_words": ws_words,
        "english_word_equivalents": counting.english_word_equivalents(n_bytes, lang),
        "word_unit": counting.word_unit(lang, track), "byte_premium": counting.language(lang).byte_premium,
        "byte_target": target, "byte_target_used": n_bytes / target, "sha256": sha,
    }


def build_ledger(track: str, languages: dict[str, dict], files: list[dict], skipped: list[str],
                 allow_over_budget: bool, options: dict) -> dict:
    """Assemble ledger.json and decide whether the data is over the track's budget."""
    spec = counting.track(track)
    total = sum(entry["words"] for entry in languages.values())
    if spec.scope == "per_language":
        # Multilingual: each language is held to its own byte target (543 MB x premium per 100M).
        used = max(entry["byte_target_used"] for entry in languages.values())
    else:
        used = total / spec.limit_words
    for entry in languages.values():
        per_language = spec.scope == "per_language"
        entry["budget_used"] = entry["byte_target_used"] if per_language else entry["words"] / spec.limit_words
    return {
        "track": track, "limit_words": spec.limit_words, "limit_scope": spec.scope, "word_rule": counting.WORD_RULE,
        "allow_over_budget": allow_over_budget, "over_budget": used > 1.0, "languages": languages, "files": files,
        "skipped_files": skipped, "total_words": total, "budget_used": used, "options": options,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "nestling_version": _version(),
    }


def _over_budget_message(ledger: dict) -> str:
    if ledger["limit_scope"] == "per_language":
        worst = max(ledger["languages"].items(), key=lambda kv: kv[1]["byte_target_used"])
        lang, entry = worst
        per_lang = ", ".join(f"{code} {e['byte_target_used']:.1%}" for code, e in ledger["languages"].items())
        return (f"over budget: {lang} has {entry['bytes']:,} bytes, {entry['byte_target_used']:.1%} of its "
                f"{ledger['track']} byte target {entry['byte_target']:,} (543 MB x premium {entry['byte_premium']}; "
                f"per language: {per_lang}); "
                "remove data or pass --allow-over-budget (recorded in the ledger)")
    per_lang = ", ".join(f"{lang} {e['words']:,.0f}" for lang, e in ledger["languages"].items())
    return (f"over budget: {ledger['total_words']:,.0f} words is {ledger['budget_used']:.1%} of the "
            f"{ledger['track']} limit {ledger['limit_words']:,} (per language: {per_lang}); remove data or pass "
            "--allow-over-budget (recorded in the ledger)")


def prepare_dataset(sources: dict[str, list[Path]], out_dir: Path, track: str, *, fmt: str | None = None,
                    keep_child: bool = True, on_bad_line: str = "error", allow_over_budget: bool = False,
                    allow_drops: bool = False, overwrite: bool = False, workers: int | None = None) -> dict:
    """Clean, count and certify a corpus; return the ledger (also written to ``out_dir/ledger.json``).

    sources: language code -> files or folders (folders are walked recursively, see
        ``nestling.data.formats``); ``PATH:FORMAT`` sets the format of that file (or of every file
        in that folder), over ``fmt`` and detection.
    track: "strict", "strict-small" or "multilingual" (limits in ``nestling.data.counting``).
    fmt: force one cleaning format for every file instead of detecting it per file
        (``cleaning.FORMATS`` or an alias in ``cleaning.FORMAT_ALIASES``).
    keep_child: keep CHAT ``*CHI`` utterances (False drops them, counted as ``child_speech``).
    on_bad_line: "error" (stop, naming file and line) or "skip" (drop the line, count it).
    allow_drops: let "skip" drop more than ``MAX_DROP_SHARE`` of a file's lines (recorded in the ledger).
    allow_over_budget: write the dataset even above the track's limit (recorded in the ledger).
    overwrite: replace an existing ``out_dir`` (swapped in only after success).
    workers: cleaning processes (default: all cores; small inputs are cleaned in-process).
    Raises UserError for bad input or data over budget; then nothing is written.
    """
    out_dir = Path(out_dir)
    fmt = FORMAT_ALIASES.get(fmt, fmt) if fmt is not None else None
    langs = _check_args(sources, track, fmt, on_bad_line)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a folder; choose another --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise UserError(f"{out_dir}: already exists and is not empty; choose another --out or remove it")
    refuse_overlap(out_dir, [p for paths in langs.values() for p, _ in paths])
    listed = {lang: [(*list_files(p), given) for p, given in paths] for lang, paths in langs.items()}
    _refuse_duplicates(listed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out_dir):
        remove_stale_temporaries(out_dir.parent, out_dir.name)
        # The cleaned text is at most the input's size.
        check_output(out_dir, sum(f.stat().st_size for found in listed.values() for files, *_ in found for f in files),
                     "the cleaned text")
        tmp = temporary_sibling(out_dir)
        try:
            (tmp / "clean").mkdir(parents=True)
            options = dict(fmt=fmt, keep_child=keep_child, on_bad_line=on_bad_line, allow_drops=allow_drops)
            ledger = _prepare_into(tmp, listed, track, options, allow_over_budget, workers)
            (tmp / "ledger.json").write_text(json.dumps(ledger, indent=2, ensure_ascii=False) + "\n")
            _swap_into_place(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return ledger


def _refuse_duplicates(listed: dict) -> None:
    """One file reached twice (named twice, or inside a folder also given) would be counted twice."""
    first: dict[Path, tuple[str, Path]] = {}
    for lang, found in listed.items():
        for files, _, _ in found:
            for path in files:
                real = path.resolve()
                if real in first:
                    other_lang, other = first[real]
                    raise UserError(f"{path}: given twice (also as {other} for {other_lang}); "
                                    "each file may be counted once")
                first[real] = (lang, path)


def _prepare_into(tmp: Path, listed: dict, track: str, options: dict, allow_over_budget: bool,
                  workers: int | None) -> dict:
    files, skipped, languages = [], [], {}
    for lang, found in listed.items():
        paths = [(p, given) for files_, _, given in found for p in files_]
        skipped += [s for _, skipped_, _ in found for s in skipped_]
        entries = _prepare_language(tmp, lang, paths, track, options, workers)
        sha = entries.pop()
        check_drops(entries, options["allow_drops"])
        entry = _language_entry(lang, entries, sha, track)
        if entry["lines_kept"] == 0:
            raise UserError(f"{lang}: no text left after cleaning {len(paths)} file(s) "
                            f"(dropped: {entry['drop_reasons'] or 'nothing; files are empty'})")
        languages[lang] = entry
        files += entries
    ledger = build_ledger(track, languages, files, skipped, allow_over_budget, options)
    if ledger["over_budget"] and not allow_over_budget:
        raise UserError(_over_budget_message(ledger))
    return ledger


def _format_of(path: Path, given: str | None, forced: str | None) -> tuple[str, str]:
    """(format, where it came from): the path's own ``:FORMAT``, else --format, else detected."""
    head = sniff(path)  # always: a binary file fails before any work is done
    if given:
        return given, "given for this path"
    if forced:
        return forced, "given for every file"
    return detect_format(path, head), "detected"


def _prepare_language(tmp: Path, lang: str, listed: list[tuple[Path, str | None]], track: str, options: dict,
                      workers: int | None) -> list:
    """Clean one language's files (big files in slices) into ``clean/<lang>.txt``.

    Returns the files' ledger entries followed by the language file's sha256.
    """
    paths = [path for path, _ in listed]
    chosen = [_format_of(path, given, options["fmt"]) for path, given in listed]
    formats = [fmt for fmt, _ in chosen]
    n_workers = workers or os.cpu_count() or 1
    jobs, owners = [], []
    kwargs = dict(keep_child=options["keep_child"], on_bad_line=options["on_bad_line"])
    for i, (path, fmt) in enumerate(zip(paths, formats)):
        for start, end, first in split_ranges(path, fmt, SLICE_BYTES):
            part = tmp / "clean" / f".{lang}.{len(jobs):06d}.part"
            jobs.append((path, lang, fmt, part, dict(kwargs, start=start, end=end, first_lineno=first)))
            owners.append(i)
    counts = _run_jobs(jobs, n_workers, desc=f"clean {lang}")
    sha, file_shas = _concatenate([job[3] for job in jobs], owners, tmp / "clean" / f"{lang}.txt")
    entries = []
    for i, (path, fmt) in enumerate(zip(paths, formats)):
        slices = [c for c, owner in zip(counts, owners) if owner == i]
        entries.append({**_file_entry(path, lang, fmt, slices, file_shas[i], track), "format_from": chosen[i][1]})
    return entries + [sha]


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}{TMP_MARK}old-{os.getpid()}"
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out_dir)


def load_ledger(dataset_dir: Path) -> dict:
    """Read ``dataset_dir/ledger.json``; UserError if the folder is not a prepared dataset."""
    path = Path(dataset_dir) / "ledger.json"
    if not path.is_file():
        raise UserError(f"{dataset_dir}: no ledger.json; run `nestling data prepare ... --out {dataset_dir}` first")
    return json.loads(path.read_text())


def summary_table(ledger: dict) -> str:
    """Per-language table of a ledger: files, lines kept/dropped, words, budget used."""
    rows = [("lang", "files", "lines kept", "dropped", "words", "unit", "MB", "budget used")]
    for lang, e in ledger["languages"].items():
        unit = "EWE" if e["word_unit"] == "english_word_equivalent" else "ws"
        rows.append((lang, f"{e['files']}", f"{e['lines_kept']:,}", f"{e['lines_dropped']:,}", f"{e['words']:,.0f}",
                     unit, f"{e['bytes'] / 1e6:.2f}", f"{e['budget_used']:.2%}"))
    scope = "per language" if ledger["limit_scope"] == "per_language" else "total"
    rows.append(("total", "", "", "", f"{ledger['total_words']:,.0f}", "", "", f"{ledger['budget_used']:.2%}"))
    footer = f"track {ledger['track']}: limit {ledger['limit_words']:,} words ({scope})"
    if ledger["over_budget"]:
        footer += "; OVER BUDGET (allowed with --allow-over-budget)"
    return format_table(rows) + "\n" + footer


def format_table(rows: list[tuple]) -> str:
    """Markdown-style table: the first row is the header; columns padded to their widest cell."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
