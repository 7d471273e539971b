"""``bench run``: resolve the config, train, embed query and gallery, search, submit, score.

Everything before ``submit`` sees only the train and val labels; the answers stay with the scorer.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.atomic import atomic_writer
from harness.config import RunConfig, differs_text, resolve_run_config
from harness.data.competition import open_competition
from harness.data.cutoff import capped_k
from harness.errors import BenchError, LeaderboardError, RunKept
from harness.fingerprint import environment, training_fields
from harness.scoring import submit as scoring
from harness.scoring.budget import budget_cell, device_label
from harness.scoring.leaderboard import read_rows
from harness.scoring.submission import submission_suffix, write_ranked
from harness.train import isa
from harness.train.launch import check_launcher
from harness.workspace import Workspace, new_submission_id

if TYPE_CHECKING:
    import torch
    from rich.progress import Progress

    from harness.train.model import RetrievalModel
    from harness.train.search import SearchResult

log = logging.getLogger("bench.run")
__all__ = ["RunHooks", "RunRequest", "RunResult", "resolve_run_config", "run"]


@dataclass(frozen=True)
class RunRequest:
    """What ``bench run`` is asked: a config resolved and checked once (:func:`resolve_run_config`), and the
    labels its leaderboard row carries."""

    config: RunConfig
    name: str = ""  # shown on the leaderboard
    study: str | None = None  # the tune study and trial a final run belongs to
    trial: int | None = None
    tuning: tuple[int, float] = (0, 0.0)  # (trials, their training seconds) that chose this config: the row's budget


@dataclass
class RunHooks:
    """What the caller sees as the run goes. Every field is optional."""

    progress: Progress | None = None
    on_epoch: Callable[[int, float], None] | None = None  # (epoch, val score); may raise optuna.TrialPruned


@dataclass
class RunResult:
    submission_id: str
    row: dict[str, Any]
    rank: int | None
    run_dir: Path
    submission_path: Path | None = None
    best_val: float | None = None
    report: Any = None  # the scorer's summary (SubmitResult.scores): public, private, intervals, "all"
    competition: str = ""


def run(workspace: Workspace, request: RunRequest, hooks: RunHooks | None = None) -> RunResult | None:
    """Train ``request.config``'s method on its competition and submit its top-k neighbours; see
    ``bench run --help``.

    Under torchrun (``bench run --nproc N``) every rank trains; rank 0 alone embeds, searches, writes
    the run folder and submits, and the other ranks return None.
    """
    from harness.train.devices import pick_device
    from harness.train.distributed import process_group

    isa.check_torch(request.config.train.deterministic)  # a library caller gets the CLI's pin (or a warning)
    hooks = hooks or RunHooks()
    with process_group(pick_device(request.config.train.device)) as (ranks, torch_device):
        if not ranks.is_main:
            train_only(workspace, request.config, torch_device)
            return None
        return run_on_device(workspace, request, hooks, torch_device, ranks.world_size)


def train_only(workspace: Workspace, cfg: RunConfig, torch_device: torch.device) -> None:
    """What a rank other than 0 does: its share of the training, nothing written."""
    from harness.train.devices import cpu_threads, deterministic
    from harness.train.loop import fit

    with deterministic(torch_device, cfg.train.deterministic), cpu_threads(cfg.train.threads):
        fit(cfg, open_competition(workspace, cfg.competition), torch_device)


def run_on_device(
    workspace: Workspace, request: RunRequest, hooks: RunHooks, torch_device: torch.device, nproc: int
) -> RunResult:
    """``run`` once the device (this rank's) is chosen; ``nproc`` ranks train."""
    from harness.train.devices import cpu_threads, deterministic
    from harness.train.loop import fit
    from harness.train.search import embed_and_search

    cfg = request.config
    digest = cfg.hash
    comp = open_competition(workspace, cfg.competition)
    submission_id = new_submission_id(cfg.method)
    run_dir = workspace.run_dir(submission_id)
    k = capped_k(int(comp.spec.k), len(comp.gallery()))
    suffix = submission_suffix(len(comp.query()), k, comp.spec.submission_format)  # Parquet when huge or asked
    destination = workspace.submission_path(comp.name, submission_id, suffix)

    with discard_on_error(run_dir, destination):
        write_json(run_dir / "config.json", {"method": cfg.method, "config_hash": digest, "config": cfg.as_dict()})
        with (
            log_to(run_dir / "log.txt"),
            deterministic(torch_device, cfg.train.deterministic),
            cpu_threads(cfg.train.threads),
        ):
            log.info(
                "run %s: method %s on %s, config %s, seed %d%s",
                submission_id,
                cfg.method,
                comp.name,
                digest,
                cfg.seed,
                f", {nproc} processes" if nproc > 1 else "",
            )
            env = environment(**training_fields(torch_device))
            result = fit(cfg, comp, torch_device, on_epoch=hooks.on_epoch, progress=hooks.progress)
            save_weights(result.model, run_dir)
            search = embed_and_search(result.model, comp, cfg, torch_device, hooks.progress)
            path = write_submission(destination, search, run_dir, submission_id)
            log.info("submission written to %s (search %.3f ms/query)", path, search.ms_per_query)
            write_json(
                run_dir / "metrics.json",
                {
                    "val_metric": comp.spec.metric,
                    "history": result.history,
                    "best_epoch": result.best_epoch,
                    "best_val": result.best_val,
                    "train_seconds": result.train_seconds,
                    "search_ms_per_query": search.ms_per_query,
                    "embed_seconds": search.embed_seconds,
                    "device": str(torch_device),
                    "nproc": nproc,
                },
            )

        from harness.train.model import describe_backbone

        defaults = resolve_run_config(cfg.method, competition=cfg.competition)  # the row's `differs`
        fields = {
            "method": cfg.method,
            "backbone": describe_backbone(cfg.components),
            "loss": loss_label(cfg),
            "sampler": cfg.components["sampler"]["name"] if cfg.train.epochs else "none",
            "indexer": cfg.components["indexer"]["name"],
            "code_kind": search.code_kind,
            "bytes_per_item": search.bytes_per_item,
            "train_seconds": result.train_seconds,
            "search_ms_per_query": search.ms_per_query,
            "seed": cfg.seed,
            "config_hash": digest,
            "study": request.study or "",
            "trial": "" if request.trial is None else request.trial,
            "env": env,
            "pooling": cfg.components.get("pooling", {}).get("name", ""),
            "differs": differs_text(cfg, defaults),
            "budget": budget_cell(*request.tuning, result.train_seconds, device_label(torch_device, env)),
        }
    submitted = record_or_keep(
        workspace, Recording(comp.name, path, run_dir, submission_id, name=request.name, fields=fields)
    )
    return RunResult(
        submission_id=submission_id,
        row=submitted.row,
        rank=submitted.rank,
        run_dir=run_dir,
        submission_path=path,
        best_val=result.best_val,
        report=submitted.scores,
        competition=comp.name,
    )


def loss_label(cfg: RunConfig) -> str:
    """``contrastive`` or, with a classification term, ``contrastive+softmax``; ``none`` without training."""
    if cfg.train.epochs == 0:
        return "none"
    name = cfg.components["loss"]["name"]
    return f"{name}+softmax" if cfg.train.classification_weight > 0 else name


def save_weights(model: RetrievalModel, run_dir: Path) -> Path:
    """``weights.safetensors`` (the backbone and head; load with ``safetensors.torch.load_model``)."""
    from safetensors.torch import save_model

    path = run_dir / "weights.safetensors"
    save_model(model, str(path))
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:

    with atomic_writer(path) as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_submission(destination: Path, search: SearchResult, run_dir: Path, submission_id: str) -> Path:
    """Write the run's submission file; if the disk cannot take it (full, read-only, a quota), the trained
    run (weights, config, log) is kept, and the error names both paths."""
    try:
        return write_ranked(destination, search.query_ids, search.gallery_ids, search.ranked)
    except OSError as exc:
        raise RunKept(
            f"run {submission_id} trained, but its submission {destination} could not be written "
            f"({exc.strerror or exc}); its weights and config are kept in {run_dir}: free some space and run it again"
        ) from None


@dataclass(frozen=True)
class Recording:
    """A trained run's submission, ready for the leaderboard."""

    competition: str
    path: Path
    run_dir: Path
    submission_id: str
    name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


def record_or_keep(workspace: Workspace, recording: Recording) -> scoring.SubmitResult:
    """Submit a trained run's file; if only recording fails (a full disk, a read-only leaderboard, a
    locked board), the weights and the submission are kept and the error says how to submit them."""

    competition, path, run_dir, submission_id = (
        recording.competition,
        recording.path,
        recording.run_dir,
        recording.submission_id,
    )
    try:
        check_launcher()  # a rank whose launcher was killed records nothing
        return scoring.submit_isolated(  # this process ran plugin code: the trusted process scores
            workspace, competition, path, name=recording.name, fields=recording.fields, submission_id=submission_id
        )
    except BaseException as exc:
        if not isinstance(exc, (BenchError, OSError)):  # a crash or Ctrl-C: the run leaves nothing behind
            if not _on_leaderboard(workspace, competition, submission_id):
                shutil.rmtree(run_dir, ignore_errors=True)
                path.unlink(missing_ok=True)
            raise
        reason = str(exc) if isinstance(exc, BenchError) else f"{exc.strerror or exc}: {exc.filename or ''}"
        raise LeaderboardError(
            f"run {submission_id} trained, but its row could not be recorded ({reason}); its weights are kept in "
            f"{run_dir} and its submission in {path}: record it with "
            f"`bench submit {path} --competition {competition}`"
        ) from None


def _on_leaderboard(workspace: Workspace, competition: str, submission_id: str) -> bool:
    """Whether ``submission_id`` has a row (True when the board cannot be read: then keep its files)."""

    try:
        rows = read_rows(workspace.leaderboard_path(competition))
    except Exception:
        return True
    return any(row.get("submission_id") == submission_id for row in rows)


@contextmanager
def discard_on_error(run_dir: Path, submission: Path | None = None) -> Iterator[None]:
    """A run that fails or is interrupted before it is trained and written (bad weights path, offline
    download, a crash, Ctrl-C) leaves neither a run folder nor a submission file behind."""
    try:
        yield
    except RunKept:
        raise
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        if submission is not None:
            Path(submission).unlink(missing_ok=True)
        raise


@contextmanager
def discard_orphans(workspace: Workspace, competition: str) -> Iterator[None]:
    """A multi-process run whose ranks were stopped (a peer failed, Ctrl-C) may have been killed before its own
    clean-up ran: remove the run folders it started that hold no trained weights and never reached the
    leaderboard, with their submissions. (A run that trained and only failed to record keeps its artifacts.)"""
    runs_before = set(workspace.runs.iterdir()) if workspace.runs.is_dir() else set()
    folder = workspace.submissions_dir(competition)
    files_before = set(folder.iterdir()) if folder.is_dir() else set()
    try:
        yield
    except BaseException:
        started = (set(workspace.runs.iterdir()) if workspace.runs.is_dir() else set()) - runs_before
        written = (set(folder.iterdir()) if folder.is_dir() else set()) - files_before
        try:
            recorded = {row.get("submission_id") for row in read_rows(workspace.leaderboard_path(competition))}
        except Exception:  # an unreadable board: keep everything rather than guess what reached it
            recorded = None
        orphans = {
            path.name
            for path in started
            if recorded is not None and path.name not in recorded and not (path / "weights.safetensors").exists()
        }
        for path in sorted(started):
            if path.name in orphans:
                shutil.rmtree(path, ignore_errors=True)
        for path in sorted(written):
            if path.stem in orphans:
                path.unlink(missing_ok=True)
        raise


@contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Copy the run's ``bench.*`` log records into ``path`` while the run lasts."""
    logger = logging.getLogger("bench")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()


def rerun_submission(
    workspace: Workspace, request: RunRequest, destination: Path, hooks: RunHooks | None = None
) -> tuple[Path, dict[str, Any]]:
    """Train ``request.config`` again and write its submission to ``destination`` only: no row, no run folder.

    ``bench reproduce`` compares the file with the recorded one. Returns (path, environment fingerprint).
    """
    from harness.train.devices import cpu_threads, deterministic, pick_device
    from harness.train.loop import fit
    from harness.train.search import embed_and_search

    cfg, progress = request.config, (hooks or RunHooks()).progress
    isa.check_torch(cfg.train.deterministic)
    torch_device = pick_device(cfg.train.device)
    comp = open_competition(workspace, cfg.competition)
    with deterministic(torch_device, cfg.train.deterministic), cpu_threads(cfg.train.threads):
        env = environment(**training_fields(torch_device))
        result = fit(cfg, comp, torch_device, progress=progress)
        search = embed_and_search(result.model, comp, cfg, torch_device, progress)
    log.info("rerun of %s (seed %d) done; writing %s", cfg.method, cfg.seed, destination)
    return write_ranked(destination, search.query_ids, search.gallery_ids, search.ranked), env
