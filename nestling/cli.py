"""The `nestling` command: a table of subcommands, each a few lines that call the library.

No training, data or evaluation logic lives here. Library modules are imported inside each handler
so that `nestling --help` answers at once. A `UserError` from the library becomes one line on
stderr and exit code 2, as does a wrong argument.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nestling import launch
from nestling.data.cleaning import FORMATS
from nestling.errors import RunStopped, UserError
from nestling.evaluation import multilingual
from nestling.evaluation.aoa import AOA_EXACT_MODES
from nestling.evaluation.finetune import tasks as finetune_tasks
from nestling.recipe import choices, default


class Parser(argparse.ArgumentParser):
    """argparse, but a wrong argument gives one clear line (not the usage block) and exit code 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _lang_path(text: str) -> tuple[str, Path]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected LANG=PATH, got {text!r}")
    lang, path = text.split("=", 1)
    if not path.strip():
        # Path("") is the current folder: an empty path must not read everything here.
        raise argparse.ArgumentTypeError(f"empty path in {text!r}; expected LANG=PATH")
    return lang.strip(), Path(path)


def _langs(text: str) -> list[str]:
    return [lang.strip() for lang in text.split(",") if lang.strip()]


def cmd_data_prepare(args) -> None:
    from nestling.data.prepare import prepare_dataset, summary_table

    sources: dict[str, list[Path]] = {}
    for lang, path in args.lang:
        sources.setdefault(lang, []).append(path)
    ledger = prepare_dataset(
        sources, args.out, args.track, fmt=args.format, keep_child=not args.drop_child,
        on_bad_line=args.on_bad_line, allow_over_budget=args.allow_over_budget, allow_drops=args.allow_drops,
    )
    print(summary_table(ledger))


def cmd_data_tokenize(args) -> None:
    from nestling.data.tokenize import tokenize_dataset, tokenize_table

    print(tokenize_table(tokenize_dataset(args.dir, workers=args.workers)))


def cmd_data_builtin(args) -> None:
    from nestling.data.generator import write_builtin_data

    print(write_builtin_data(args.out, words=args.words, seed=args.seed, langs=_langs(args.langs),
                             pairs_per_uid=default("data.builtin_pairs")))


def cmd_tokenizer_train(args) -> None:
    from nestling.data.tokenizer import fertility_table, train_tokenizer

    print(fertility_table(train_tokenizer(args.dir, vocab_size=args.vocab_size, balance_languages=args.balance)))


def cmd_mix_prior(args) -> None:
    from nestling.mixing.prior import format_prior_report

    print(format_prior_report(_langs(args.langs)))


def cmd_mix_simulate(args) -> None:
    from nestling.mixing.simulate import format_simulation, run_simulation

    rounds = {"rounds": args.rounds} if args.rounds is not None else {}
    print(format_simulation(run_simulation(args.reward, seed=args.seed, out_dir=args.out, **rounds)))


def cmd_train(args) -> None:
    from nestling.jobs import check_finished, train_recipe

    run_dir = train_recipe(args.recipe, args.set, out_dir=args.out, resume=args.resume)
    check_finished(run_dir)
    print(f"run folder: {run_dir}")


def cmd_sweep(args) -> None:
    from nestling.sweep import FAILED, run_sweep, sweep_table

    sweep = run_sweep(args.recipe, args.set, grid=args.grid, seeds=args.seeds, parallel=args.parallel, out=args.out)
    if launch.ranks().rank != 0:  # under torchrun rank 0 reports
        return
    print(sweep_table(sweep))
    print(f"sweep folder: {sweep.out}\ncompare: nestling compare {sweep.out} --out {sweep.out / 'compare'}")
    if any(run.status == FAILED for run in sweep.runs):
        sys.exit(1)


def cmd_compare(args) -> None:
    from nestling.export import write_comparison

    print(f"comparison: {write_comparison(args.runs, args.out, baseline=args.baseline)}")


def cmd_eval(args) -> None:
    if args.suite == multilingual.SUITE:
        from nestling.evaluation.multilingual import evaluate_multilingual_path

        print(evaluate_multilingual_path(
            args.model, out=args.out, langs=args.langs.split(","), tasks=args.tasks.split(",") if args.tasks else None,
            tasks_dir=args.tasks_dir, data_map=args.data_map, revisions=args.revisions, backend=args.backend,
            device=args.device, batch_size=args.batch_size, trust_remote_code=args.trust_remote_code,
            allow_tokenizer_mismatch=args.allow_tokenizer_mismatch, offline=args.offline, limit=args.limit))
        return
    from nestling.jobs import evaluate_path

    if args.suite and args.data:
        raise UserError("give --data PATH or --suite NAME, not both")
    if args.check:
        from nestling.evaluation.suites import check_submission

        if args.suite != "strict-full":
            raise UserError("--check lists what a strict-full submission lacks: give --suite strict-full")
        report, complete = check_submission(args.model, args.submission)
        print(report)
        if not complete:
            sys.exit(1)
        return
    if args.suite or not args.data:
        from nestling.evaluation.suites import evaluate_suite_path, recipe_suite

        suite, root = (args.suite, args.eval_root) if args.suite else recipe_suite(args.model)
        if not suite:
            raise UserError("nothing to evaluate: give --data PATH or --suite strict-fast|strict-full|multilingual "
                            "(or train with a recipe that sets eval.suite)")
        print(evaluate_suite_path(args.model, suite, args.eval_root or root, out=args.out,
                                  submission=args.submission, revisions=args.revisions,
                                  batch_size=args.batch_size, device=args.device,
                                  trust_remote_code=args.trust_remote_code, aoa_exact=args.aoa_exact,
                                  allow_tokenizer_mismatch=args.allow_tokenizer_mismatch))
        return
    print(evaluate_path(
        args.model, args.data, out=args.out, task_format=args.task_format, group_by=args.group_by,
        fast=args.fast, revisions=args.revisions, batch_size=args.batch_size, device=args.device,
        trust_remote_code=args.trust_remote_code, allow_tokenizer_mismatch=args.allow_tokenizer_mismatch,
    ))


def cmd_finetune(args) -> None:
    from nestling.evaluation.finetune import finetune_path

    print(finetune_path(args.model, suite=args.suite, tasks=args.task, data=args.data, revisions=args.revisions,
                        seeds=args.seeds, out=args.out, overrides=args.set, trust_remote_code=args.trust_remote_code,
                        allow_tokenizer_mismatch=args.allow_tokenizer_mismatch))


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def cmd_export(args) -> None:
    from nestling.export import export_run

    repo = export_run(args.run, args.out, force=args.force, compare=args.compare,
                      allow_unevaluated=args.allow_unevaluated, repo_id=args.repo_id)
    print(f"exported to {repo}")


def cmd_push(args) -> None:
    from nestling.export import push_repo

    actions = push_repo(args.repo_dir, args.repo_id, dry_run=args.dry_run, private=args.private,
                        log=None if args.dry_run else print)
    if args.dry_run:
        print("\n".join(actions))


def cmd_report(args) -> None:
    from nestling.export import write_report

    print(f"report: {write_report(args.runs, args.out)}")


def cmd_demo(args) -> None:
    from nestling.jobs import run_demo

    run_demo(args.recipe, args.set, out_dir=args.out)


def _add_recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. --set optimizer.muon_lr=1e-3 (repeatable)")
    p.add_argument("--out", type=Path, help="run folder (default runs/<date>_<method>_seed<N>)")


def _add_tokenizer_mismatch_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-tokenizer-mismatch", action="store_true",
                   help="use a model folder whose tokenizer does not match the model (vocabulary size, special "
                        "token ids; see nestling/evaluation/tokenizer_match.py)")


def build_parser() -> Parser:
    parser = Parser(prog="nestling", description="Raise a small language model on a child's word budget: "
                    "corpus -> tokenizer -> training -> BabyLM evaluation -> Hugging Face repository.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)

    data = sub.add_parser("data", help="prepare corpora under a BabyLM word budget").add_subparsers(
        dest="data_command", metavar="ACTION", parser_class=Parser, required=True)
    p = data.add_parser("prepare", help="clean, count and certify corpora; write ledger.json")
    p.add_argument("--lang", type=_lang_path, action="append", required=True, metavar="LANG=PATH",
                   help="a language's folder or file (repeatable, e.g. --lang eng=corpus/en); PATH:FORMAT sets "
                        "that path's format, e.g. --lang eng=childes.train:text")
    p.add_argument("--track", choices=choices("data.track"), default=default("data.track"))
    p.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    p.add_argument("--format", choices=choices("data.format"), metavar="FORMAT",
                   help=f"force the input format ({', '.join(FORMATS)}); default: detect per file")
    p.add_argument("--drop-child", action="store_true", help="drop child (*CHI) utterances from CHAT files")
    p.add_argument("--on-bad-line", choices=choices("data.on_bad_line"), default=default("data.on_bad_line"))
    p.add_argument("--allow-over-budget", action="store_true", help="prepare past the track's budget (recorded)")
    p.add_argument("--allow-drops", action="store_true",
                   help="let --on-bad-line skip drop more than 5%% of a file's lines (recorded in the ledger)")
    p.set_defaults(func=cmd_data_prepare)
    p = data.add_parser("tokenize", help="encode a prepared dataset into memmapped shards")
    p.add_argument("dir", type=Path)
    p.add_argument("--workers", type=int, help="encoding processes (default: all cores)")
    p.set_defaults(func=cmd_data_tokenize)
    p = data.add_parser("builtin", help="write the built-in grammar corpus and minimal pairs")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--words", type=int, default=default("data.builtin_words"))
    p.add_argument("--seed", type=int, default=default("seed"))
    p.add_argument("--langs", default=",".join(default("data.builtin_langs")))
    p.set_defaults(func=cmd_data_builtin)

    tok = sub.add_parser("tokenizer", help="train the byte-level BPE tokenizer").add_subparsers(
        dest="tokenizer_command", metavar="ACTION", parser_class=Parser, required=True)
    p = tok.add_parser("train", help="train on a prepared dataset's cleaned text")
    p.add_argument("dir", type=Path)
    p.add_argument("--vocab-size", type=int, default=default("tokenizer.vocab_size"))
    p.add_argument("--balance", action="store_true", help="equal text per language")
    p.set_defaults(func=cmd_tokenizer_train)

    mix = sub.add_parser("mix", help="language mixing: typological prior and TAAM simulator").add_subparsers(
        dest="mix_command", metavar="ACTION", parser_class=Parser, required=True)
    p = mix.add_parser("prior", help="URIEL distances, isolation scores and pi_0")
    p.add_argument("--langs", default=",".join(default("data.builtin_langs")))
    p.set_defaults(func=cmd_mix_prior)
    p = mix.add_parser("simulate", help="run the real mixing code on synthetic loss curves")
    p.add_argument("--reward", choices=choices("mixing.reward"), default=default("mixing.reward"))
    p.add_argument("--rounds", type=int, help="EXP3 rounds (default: nestling.mixing.simulate.ROUNDS)")
    p.add_argument("--seed", type=int, default=default("seed"))
    p.add_argument("--out", type=Path, help="folder for the plot of pi over rounds")
    p.set_defaults(func=cmd_mix_simulate)

    p = sub.add_parser("train", help="train a model from a recipe (torchrun-aware)")
    p.add_argument("recipe", help="recipe file or shipped recipe name (e.g. demo)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run exactly")
    _add_recipe_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="train a recipe's grid of variants x seeds, one run folder each (resumable)")
    p.add_argument("recipe", help="recipe file or shipped recipe name (its sweep section gives the default grid)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="vary a recipe key over YAML values, e.g. --grid model.attention_layers=[],[2] or "
                        "--grid 'mixing={method: uniform},{method: taam}' (repeatable; merged over sweep.grid)")
    p.add_argument("--seeds", type=int, metavar="N",
                   help=f"seeds per configuration, from the recipe's seed (default: sweep.seeds, {default('sweep.seeds')})")
    p.add_argument("--parallel", type=int, metavar="N",
                   help=f"runs trained at once, each in its own process (default: sweep.parallel, "
                        f"{default('sweep.parallel')}; on GPUs see `torchrun ... -m nestling sweep`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key for every run, e.g. --set budget.max_tokens=20000 (repeatable)")
    p.add_argument("--out", type=Path, help="sweep folder (default <run.out_root>/sweep-<name>); "
                                            "the same command again resumes it")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("compare", help="one table of runs and sweeps: mean +/- 95%% CI over seeds, deltas, plots")
    p.add_argument("runs", type=Path, nargs="+", metavar="RUN_OR_SWEEP", help="run folders and/or sweep folders")
    p.add_argument("--baseline", type=Path, metavar="RUN",
                   help="a run folder; its configuration (all its seeds among the runs) is the Delta baseline")
    p.add_argument("--out", type=Path, required=True, help="folder for compare.md, compare.html, compare.json, plots")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("eval", help="zero-shot minimal-pair evaluation of a model folder or a whole run")
    p.add_argument("model", type=Path, help="model folder, or run folder (evaluates its revisions)")
    p.add_argument("--data", type=Path, action="append", help="jsonl file or folder (repeatable)")
    p.add_argument("--suite", choices=[*choices("eval.suite"), multilingual.SUITE],
                   help="an official suite instead of --data: the strict track's zero-shot tasks (fast tasks on every "
                        "chck_*, full on final) or the multilingual track's lm-eval tasks (needs nestling[lmeval])")
    p.add_argument("--eval-root", type=Path, help="official evaluation_data folder (default $NESTLING_EVAL_DATA)")
    p.add_argument("--submission", type=Path, help="folder for official prediction files (default <run>/submission)")
    p.add_argument("--check", action="store_true",
                   help="with --suite strict-full: list what the submission folder lacks (task x revision), evaluate nothing")
    p.add_argument("--aoa-exact", choices=AOA_EXACT_MODES, default="rescue",
                   help="with --suite strict-full: AoA rows with the official batch-of-one arithmetic: rescue "
                        "(default) = only the words whose fit decides the score, all = every row (official speed), "
                        "off = none (fast; the score may move with the ill-conditioned official fit), see docs/aoa.md")
    p.add_argument("--task-format", default="auto")
    p.add_argument("--group-by", help="grouping key of a generic sentence_good/sentence_bad file")
    p.add_argument("--fast", action="store_true", help="official fast subsets")
    p.add_argument("--revisions", default=default("eval.revisions"), help="all, final, or chck_10M,chck_20M,...")
    p.add_argument("--batch-size", type=int, default=default("eval.batch_size"))
    p.add_argument("--device", default=default("run.device"))
    p.add_argument("--out", type=Path, help="results.json (default: <run>/results.json for a run)")
    p.add_argument("--langs", default=",".join(multilingual.LANG_GROUPS), help="suite: the zeroshot_<lang> groups to run")
    p.add_argument("--tasks", help="suite: lm-eval tasks or groups to run instead of the --langs groups")
    p.add_argument("--tasks-dir", type=Path, help="suite: babylm-eval's multilingual/tasks folder")
    p.add_argument("--data-map", type=Path, help="suite: YAML of task (or pattern) -> local jsonl file or folder")
    p.add_argument("--backend", choices=multilingual.BACKENDS, default=multilingual.BACKENDS[0],
                   help="suite: nestling's engine (default), lm-eval's own hf model, or lm-eval with nestling's scorer")
    p.add_argument("--offline", action="store_true", help="suite: never ask the Hub; unmapped tasks are skipped")
    p.add_argument("--limit", type=int, help="multilingual suite: only the first N items of each task (lm-eval's "
                   "--limit; recorded in the results, for quick checks, not for reported scores)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the model folder's own Python code (needed only for code that is not nestling's)")
    _add_tokenizer_mismatch_arg(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("finetune", help="fine-tuning evaluation ((Super)GLUE or multilingual), as the official pipeline")
    p.add_argument("model", type=Path, help="model folder, or run folder (fine-tunes its final model by default)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--suite", choices=finetune_tasks.SUITES, help="every task of a suite in --data")
    which.add_argument("--task", action="append", metavar="NAME", help="one task, e.g. rte or xnli_en (repeatable)")
    p.add_argument("--data", type=Path, required=True, help="folder in the official layout (e.g. glue_filtered)")
    p.add_argument("--revisions", help="final, all, or chck_10M,chck_20M,... (default: recipe finetune.revisions)")
    p.add_argument("--seeds", type=_seeds, help="comma-separated seeds (default: recipe finetune.seeds, 42)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a finetune recipe key, e.g. --set finetune.epochs=3 (repeatable)")
    p.add_argument("--out", type=Path, help="results.json to merge into (default: <run>/results.json for a run)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the model folder's own code even when it is not the code nestling ships")
    _add_tokenizer_mismatch_arg(p)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("export", help="a Hub model repository with one branch per checkpoint")
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--baseline", "--compare", dest="compare", type=Path, metavar="RUN_DIR",
                   help="a baseline run: the card's Delta columns (validation loss, perplexity, scores) against it")
    p.add_argument("--allow-unevaluated", action="store_true", help="export a run without results.json")
    p.add_argument("--repo-id", metavar="OWNER/NAME", help="Hub id used in the card's usage snippet")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("push", help="upload an exported repository to the Hugging Face Hub")
    p.add_argument("repo_dir", type=Path)
    p.add_argument("--repo-id", required=True, metavar="OWNER/NAME")
    p.add_argument("--dry-run", action="store_true", help="print the plan, upload nothing")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("report", help="HTML report with plots for one or more runs")
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="the main job end to end on the built-in data")
    p.add_argument("--recipe", default="demo", help="recipe file or name (default demo)")
    _add_recipe_args(p)
    p.set_defaults(func=cmd_demo)
    return parser


# An error is one line of about this many characters; the whole message goes to a log file the line names.
MAX_ERROR_LINE = 300


def _error_log(command: str, text: str) -> Path | None:
    """Write the full text of an error into the cache's logs/ folder; None when even that cannot be written."""
    import datetime as dt

    from nestling.files import cache_dir, write_atomic

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        return write_atomic(cache_dir() / "logs" / f"{stamp}-{command}-{os.getpid()}.log", text)
    except (UserError, OSError):
        return None


def _fail(command: str, message: str, detail: str = "") -> None:
    """One line on stderr, shortened when long (the full message and ``detail`` go to a log), exit 2."""
    head = f"nestling {command}: error: "
    line = " ".join(message.split())
    if len(head) + len(line) > MAX_ERROR_LINE or detail or "\n" in message.strip():
        log = _error_log(command, f"{head}{message}\n\n{detail}")
        tail = f" (full message: {log})" if log else ""
        room = max(MAX_ERROR_LINE - len(head) - len(tail), 60)
        line = (line if len(line) <= room else line[:room - 3] + "...") + tail
    sys.stderr.write(head + line + "\n")
    sys.exit(2)


def _os_error_message(err: OSError) -> str:
    """A failed write as the user can act on it: which file, why, and what to do."""
    import errno

    where = f"{err.filename}: " if err.filename else ""
    reason = err.strerror or (str(err).splitlines() or [type(err).__name__])[0]
    advice = {errno.ENOSPC: "the disk is full; free some space and run the command again",
              errno.EROFS: "the file system is read-only; choose another output",
              errno.EACCES: "no permission; choose another output", errno.EDQUOT: "disk quota exceeded"}
    return f"{where}{reason}" + (f"; {advice[err.errno]}" if err.errno in advice else "")


def main(argv: list[str] | None = None) -> None:
    import traceback

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        _fail(args.command, str(err))
    except OSError as err:  # disk full, read-only, no permission: one line, the traceback in the log
        _fail(args.command, _os_error_message(err), traceback.format_exc())
    except RunStopped as err:
        sys.stderr.write(f"nestling {args.command}: {err}\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("nestling: interrupted\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
