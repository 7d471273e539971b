"""``bench run``: resolve the config, train, embed query and gallery, search, submit, score.

Everything before ``submit`` sees only the train and val labels; the answers stay with the scorer.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.components import create_indexer, get_method
from harness.config import check_values, config_hash, resolve, validate
from harness.data.spec import DEFAULT_COMPETITION
from harness.errors import BenchError, ConfigError
from harness.fingerprint import environment, training_fields
from harness.hookspecs import CodeKind, StoredSize
from harness.train import isa
from harness.workspace import new_submission_id

log = logging.getLogger("bench.run")
MAX_SEED = 2**62  # torch seeds must fit 64 bits; tune adds trial numbers and an offset to the base seed


@dataclass(frozen=True)
class SearchResult:
    """Query and gallery ids, each query's ranked gallery positions (-1: none), and what the search cost."""

    query_ids: np.ndarray
    gallery_ids: np.ndarray
    ranked: np.ndarray  # (Q, k) int64
    ms_per_query: float
    embed_seconds: float
    code_kind: str
    bytes_per_item: int


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


def resolve_run_config(
    method: str,
    competition: str | None = None,
    config_file: str | Path | None = None,
    sets: Any = (),
    seed: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Method defaults < config file < ``--set``; the explicit ``competition``/``seed``/``device`` win."""
    defaults = get_method(method).defaults
    cfg = resolve(defaults, config_file, sets if isinstance(sets, dict) else list(sets or ()))
    if competition:
        cfg["competition"] = competition
    cfg["competition"] = cfg.get("competition") or DEFAULT_COMPETITION
    if seed is not None:
        cfg["seed"] = seed
    cfg["seed"] = cfg.get("seed") if cfg.get("seed") is not None else 0
    if device:
        cfg.setdefault("train", {})["device"] = device
    for section in ("backbone", "head", "loss", "sampler", "indexer"):
        if section not in cfg:
            raise ConfigError(f"method {method!r} leaves section {section!r} unset; give {section}.name")
    cfg = validate(cfg)
    if not 0 <= cfg["seed"] < MAX_SEED:
        raise ConfigError(f"seed must be between 0 and {MAX_SEED - 1} but got {cfg['seed']}")
    check_values(cfg)
    return cfg


def run(
    workspace,
    method: str,
    competition: str | None = None,
    config_file: str | Path | None = None,
    sets: Any = (),
    seed: int | None = None,
    name: str = "",
    device: str | None = None,
    progress: Any = None,
    study: str | None = None,
    trial: int | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    tuning: tuple[int, float] = (0, 0.0),
) -> RunResult:
    """Train ``method`` on a competition and submit its top-k neighbours; see ``bench run --help``.

    ``tuning``: (trials, their training seconds) that chose this config, for the row's budget.
    Under torchrun (``bench run --nproc N``) every rank trains; rank 0 alone embeds, searches, writes
    the run folder and submits, and the other ranks return None.
    """
    cfg = resolve_run_config(method, competition, config_file, sets, seed, device)
    isa.check_torch(cfg["train"]["deterministic"])  # a library caller gets the CLI's pin (or a warning)

    from harness.train.devices import pick_device
    from harness.train.distributed import process_group

    with process_group(pick_device(cfg["train"]["device"])) as (ranks, torch_device):
        if not ranks.is_main:
            train_only(workspace, cfg, torch_device)
            return None
        return run_on_device(
            workspace, method, cfg, torch_device, ranks.world_size, name, progress, study, trial, on_epoch, tuning
        )


def train_only(workspace, cfg: dict[str, Any], torch_device) -> None:
    """What a rank other than 0 does: its share of the training, nothing written."""
    from harness.data.competition import open_competition
    from harness.train.devices import cpu_threads, deterministic
    from harness.train.loop import fit

    with deterministic(torch_device, cfg["train"]["deterministic"]), cpu_threads(cfg["train"]["threads"]):
        fit(cfg, open_competition(workspace, cfg["competition"]), torch_device)


def run_on_device(
    workspace,
    method: str,
    cfg: dict[str, Any],
    torch_device,
    nproc: int = 1,
    name: str = "",
    progress: Any = None,
    study: str | None = None,
    trial: int | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    tuning: tuple[int, float] = (0, 0.0),
) -> RunResult:
    """``run`` once the config is resolved and the device (this rank's) chosen; ``nproc`` ranks train."""
    from harness.data.competition import open_competition
    from harness.scoring.submission import submission_suffix
    from harness.train.devices import cpu_threads, deterministic
    from harness.train.loop import fit

    digest = config_hash(cfg)
    comp = open_competition(workspace, cfg["competition"])
    submission_id = new_submission_id(method)
    run_dir = workspace.run_dir(submission_id)
    k = min(int(comp.spec.k), len(comp.gallery()))
    suffix = submission_suffix(len(comp.query()), k, comp.spec.submission_format)  # Parquet when huge or asked
    destination = workspace.submission_path(comp.name, submission_id, suffix)

    with discard_on_error(run_dir, destination):
        write_json(run_dir / "config.json", {"method": method, "config_hash": digest, "config": cfg})
        train = cfg["train"]
        with (
            log_to(run_dir / "log.txt"),
            deterministic(torch_device, train["deterministic"]),
            cpu_threads(train["threads"]),
        ):
            log.info(
                "run %s: method %s on %s, config %s, seed %d%s",
                submission_id,
                method,
                comp.name,
                digest,
                cfg["seed"],
                f", {nproc} processes" if nproc > 1 else "",
            )
            env = environment(**training_fields(torch_device))
            result = fit(cfg, comp, torch_device, on_epoch=on_epoch, progress=progress)
            save_weights(result.model, run_dir)
            search = embed_and_search(result.model, comp, cfg, torch_device, progress)
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

        from harness.config import differs_text
        from harness.scoring.budget import budget_cell, device_label
        from harness.train.model import describe_backbone

        fields = {
            "method": method,
            "backbone": describe_backbone(cfg),
            "loss": loss_label(cfg),
            "sampler": cfg["sampler"]["name"] if cfg["train"]["epochs"] else "none",
            "indexer": cfg["indexer"]["name"],
            "code_kind": search.code_kind,
            "bytes_per_item": search.bytes_per_item,
            "train_seconds": result.train_seconds,
            "search_ms_per_query": search.ms_per_query,
            "seed": cfg["seed"],
            "config_hash": digest,
            "study": study or "",
            "trial": "" if trial is None else trial,
            "env": env,
            "pooling": (cfg.get("pooling") or {}).get("name", ""),
            "differs": differs_text(cfg, resolve_run_config(method, cfg["competition"], seed=cfg["seed"])),
            "budget": budget_cell(*tuning, result.train_seconds, device_label(torch_device, env)),
        }
    submitted = record_or_keep(workspace, comp.name, path, run_dir, name, fields, submission_id)
    return RunResult(
        submission_id,
        submitted.row,
        submitted.rank,
        run_dir,
        path,
        result.best_val,
        submitted.scores,
        comp.name,
    )


def embed_and_search(model, comp, cfg: dict[str, Any], device, progress=None) -> SearchResult:
    """Embed query and gallery (no labels), index the gallery, search k = the competition's k."""
    from harness.train.embed import embed_images

    train = cfg["train"]
    started = time.perf_counter()
    query, gallery = comp.query(), comp.gallery()
    args = (device, train["embed_batch_size"], train["amp"], progress)
    query_vectors = embed_images(model, query, *args, description="query embeddings")
    gallery_vectors = embed_images(model, gallery, *args, description="gallery embeddings")
    embed_seconds = time.perf_counter() - started
    settings = {k: v for k, v in cfg["indexer"].items() if k != "name"}
    settings.setdefault("device", str(device))  # exact and hamming search where the model ran, unless set
    indexer = create_indexer(cfg["indexer"]["name"], **settings).build(gallery_vectors)
    k = min(int(comp.spec.k), len(gallery))
    indices, ms_per_query = timed_search(indexer, query_vectors, k)
    return SearchResult(
        query_ids=np.asarray(query.ids),
        gallery_ids=np.asarray(gallery.ids),
        ranked=np.asarray(indices, dtype=np.int64),
        ms_per_query=round(ms_per_query, 4),
        embed_seconds=round(embed_seconds, 3),
        code_kind=indexer.code_kind if isinstance(indexer, CodeKind) else model.code_kind,
        bytes_per_item=int(indexer.bytes_per_item if isinstance(indexer, StoredSize) else gallery_vectors.shape[1] * 4),
    )


WARM_UP_QUERIES = 64


def timed_search(indexer, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """The indexer's top-k for ``queries`` and its cost in ms per query, one-off start-up excluded.

    A first, untimed search of a few queries pays what happens once per process (CUDA context and kernel
    loading, thread pools, lazy imports) so that the cost column compares searches, not start-ups."""
    if len(queries):
        indexer.search(queries[:WARM_UP_QUERIES], k)
    started = time.perf_counter()
    _, indices = indexer.search(queries, k)
    return indices, (time.perf_counter() - started) * 1000 / max(len(queries), 1)


def loss_label(cfg: dict[str, Any]) -> str:
    """``contrastive`` or, with a classification term, ``contrastive+softmax``; ``none`` without training."""
    if cfg["train"]["epochs"] == 0:
        return "none"
    name = cfg["loss"]["name"]
    return f"{name}+softmax" if cfg["train"]["classification_weight"] > 0 else name


def save_weights(model, run_dir: Path) -> Path:
    """``weights.safetensors`` (the backbone and head; load with ``safetensors.torch.load_model``)."""
    from safetensors.torch import save_model

    path = run_dir / "weights.safetensors"
    save_model(model, str(path))
    return path


def write_json(path: Path, data: dict[str, Any]) -> None:
    from harness.atomic import atomic_writer

    with atomic_writer(path) as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


class RunKept(BenchError):
    """A run that trained but could not be finished: :func:`discard_on_error` keeps its folder."""


def write_submission(destination: Path, search: SearchResult, run_dir: Path, submission_id: str) -> Path:
    """Write the run's submission file; if the disk cannot take it (full, read-only, a quota), the trained
    run (weights, config, log) is kept, and the error names both paths."""
    from harness.scoring.submission import write_ranked

    try:
        return write_ranked(destination, search.query_ids, search.gallery_ids, search.ranked)
    except OSError as exc:
        raise RunKept(
            f"run {submission_id} trained, but its submission {destination} could not be written "
            f"({exc.strerror or exc}); its weights and config are kept in {run_dir}: free some space and run it again"
        ) from None


def record_or_keep(workspace, competition: str, path: Path, run_dir: Path, name: str, fields: dict, submission_id: str):
    """Submit a trained run's file; if only recording fails (a full disk, a read-only leaderboard, a
    locked board), the weights and the submission are kept and the error says how to submit them."""
    from harness.scoring.submit import submit
    from harness.train.launch import check_launcher

    try:
        check_launcher()  # a rank whose launcher was killed records nothing
        return submit(workspace, competition, path, name=name, fields=fields, submission_id=submission_id)
    except BaseException as exc:
        if not isinstance(exc, (BenchError, OSError)):  # a crash or Ctrl-C: the run leaves nothing behind
            if not _on_leaderboard(workspace, competition, submission_id):
                shutil.rmtree(run_dir, ignore_errors=True)
                path.unlink(missing_ok=True)
            raise
        reason = str(exc) if isinstance(exc, BenchError) else f"{exc.strerror or exc}: {exc.filename or ''}"
        raise BenchError(
            f"run {submission_id} trained, but its row could not be recorded ({reason}); its weights are kept in "
            f"{run_dir} and its submission in {path}: record it with "
            f"`bench submit {path} --competition {competition}`"
        ) from None


def _on_leaderboard(workspace, competition: str, submission_id: str) -> bool:
    """Whether ``submission_id`` has a row (True when the board cannot be read: then keep its files)."""
    from harness.scoring.leaderboard import read_rows

    try:
        rows = read_rows(workspace.leaderboard_path(competition))
    except Exception:
        return True
    return any(row.get("submission_id") == submission_id for row in rows)


@contextmanager
def discard_on_error(run_dir: Path, submission: Path | None = None):
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
def discard_orphans(workspace, competition: str):
    """A multi-process run whose ranks were stopped (a peer failed, Ctrl-C) may have been killed before its own
    clean-up ran: remove the run folders it started that hold no trained weights and never reached the
    leaderboard, with their submissions. (A run that trained and only failed to record keeps its artifacts.)"""
    runs_before = set(workspace.runs.iterdir()) if workspace.runs.is_dir() else set()
    folder = workspace.submissions_dir(competition)
    files_before = set(folder.iterdir()) if folder.is_dir() else set()
    try:
        yield
    except BaseException:
        from harness.scoring.leaderboard import read_rows

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
def log_to(path: Path):
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


def rerun_submission(workspace, method: str, cfg: dict[str, Any], destination: Path, progress: Any = None):
    """Train ``cfg`` again and write its submission to ``destination`` only: no row, no run folder.

    ``bench reproduce`` compares the file with the recorded one. Returns (path, environment fingerprint).
    """
    from harness.data.competition import open_competition
    from harness.scoring.submission import write_ranked
    from harness.train.devices import cpu_threads, deterministic, pick_device
    from harness.train.loop import fit

    isa.check_torch(cfg["train"]["deterministic"])
    torch_device = pick_device(cfg["train"]["device"])
    comp = open_competition(workspace, cfg["competition"])
    with deterministic(torch_device, cfg["train"]["deterministic"]), cpu_threads(cfg["train"]["threads"]):
        env = environment(**training_fields(torch_device))
        result = fit(cfg, comp, torch_device, progress=progress)
        search = embed_and_search(result.model, comp, cfg, torch_device, progress)
    log.info("rerun of %s (seed %d) done; writing %s", method, cfg["seed"], destination)
    return write_ranked(destination, search.query_ids, search.gallery_ids, search.ranked), env
