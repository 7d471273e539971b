"""The pages of ``bench serve`` (each also JSON at the same address plus ``.json``): module-level
handlers over :mod:`harness.serve.board`, listed in the route table of :mod:`harness.serve.app`."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from harness.data.spec import CompetitionSpec
from harness.errors import ForbiddenError
from harness.serve import board, overview, rules
from harness.serve.tokens import Participant
from harness.serve.web import HERE, competition, participant, render, site, viewer, who_json

BOARD_SWITCHES = ("all", "panel")  # query flags of the leaderboard: every row, the metric panel


def participant_names(request: Request) -> set[str]:
    return {p.name for p in site(request).tokens.participants()}


def may_reveal(who: Participant | None, spec: CompetitionSpec) -> bool:
    """Private scores and answer-bearing figures: for the host, and for everyone after the deadline."""
    return bool(who and who.is_host) or rules.Rules.of(spec).after_deadline()


async def index(request: Request) -> Response:
    who = viewer(request)
    entries = await run_in_threadpool(overview.listing, site(request).workspace)
    return render(request, "index.html", {"competitions": entries, "viewer": who_json(who)}, who=who)


async def competition_overview(request: Request) -> Response:
    spec, who = competition(request), viewer(request)
    data = await run_in_threadpool(overview.describe, site(request).workspace, spec)
    return render(request, "overview.html", {**data, "viewer": who_json(who), "tab": "overview"}, who=who)


async def data_page(request: Request) -> Response:
    spec, who = competition(request), viewer(request)
    data = await run_in_threadpool(overview.describe, site(request).workspace, spec)
    return render(request, "data.html", {**data, "viewer": who_json(who), "tab": "data"}, who=who)


async def data_zip(request: Request) -> Response:
    spec = competition(request)
    path = await run_in_threadpool(overview.export_zip, site(request).workspace, spec)
    return FileResponse(path, media_type="application/zip", filename=f"{spec.name}-data.zip")


def board_data(request: Request, private: bool) -> dict[str, Any]:
    spec, who = competition(request), viewer(request)
    workspace = site(request).workspace
    reveal = may_reveal(who, spec)
    if private and not reveal:
        rule = rules.Rules.of(spec)
        when = f"after the deadline ({rule.deadline.isoformat()})" if rule.deadline else "to the host only"
        raise ForbiddenError(f"the private leaderboard of {spec.name} is shown {when}")
    params = request.query_params
    by = params.get("by") or "run"
    if by not in ("run", "group") or (by == "group" and private):
        raise HTTPException(400, "by must be 'run' or 'group' (seed groups: on the public board only)")
    if by == "group" and spec.public_board == "ladder" and not reveal:
        raise ForbiddenError("seed groups show true public means: under the Ladder they are shown after the deadline")
    switches = {key: params.get(key) == "1" for key in BOARD_SWITCHES}
    ranked = board.leaderboard(workspace, spec, private=private, participants=participant_names(request))
    every = [board.public_view(row, reveal, who.name if who else None) for row in ranked]
    best = board.best_per_participant(every)
    shown = every if switches["all"] else best
    groups = board.group_board(workspace, spec) if by == "group" else None
    panel_names = sorted({key for row in ranked for key in row["metrics"]})
    sort = params.get("sort") or None
    if sort and groups is None:
        shown = board.sort_rows(shown, sort)
    elif sort:
        groups = board.sort_rows(groups, sort)
    submitted = next((r for r in every if r.get("submission_id") == params.get("submitted")), None)
    if submitted is not None:  # the participant's place on the default board (one row each)
        place = next((r["rank"] for r in best if r.get("name") == submitted.get("name")), None)
        submitted = {**submitted, "place": place}
        if params.get("earlier") == "1":  # the form's upload was a row recorded before: say so
            submitted["note"] = board.earlier_note(submitted)
    return {
        "competition": board.competition_info(workspace, spec),
        "board": "private" if private else "public",
        "tab": "board",
        "formats": list(board.upload_suffixes()),
        "private_available": reveal,
        "sort": sort,
        "by": by,
        "groups_available": not private and (spec.public_board != "ladder" or reveal),
        "all": switches["all"],
        "panel_shown": switches["panel"],
        "viewer": who_json(who),
        "quota": board.quota(workspace, spec, who.name) if who else None,
        "panel": panel_names if switches["panel"] else [],
        "panel_names": panel_names,
        "optional": [c for c in ("band", "group", "method") if any(r.get(c) not in ("", None) for r in shown)],
        "groups": groups,
        "submitted": submitted,
        "rows": shown,
    }


async def leaderboard(request: Request) -> Response:
    private = request.url.path.removesuffix(".json").endswith("/private")
    data = await run_in_threadpool(board_data, request, private)
    return render(request, "leaderboard.html", data, who=viewer(request))


def mine_data(request: Request) -> dict[str, Any]:
    spec, who = competition(request), participant(request)
    workspace = site(request).workspace
    ranked = board.leaderboard(workspace, spec, private=False, participants=participant_names(request))
    reveal = may_reveal(who, spec)
    rows = [board.public_view(r, reveal, who.name) for r in ranked if r.get("name") == who.name]
    rows.sort(key=lambda r: r.get("time") or "", reverse=True)
    return {
        "competition": board.competition_info(workspace, spec),
        "tab": "mine",
        "viewer": who_json(who),
        "quota": board.quota(workspace, spec, who.name),
        "private_available": reveal,
        "rows": rows,
    }


async def my_submissions(request: Request) -> Response:
    data = await run_in_threadpool(mine_data, request)
    return render(request, "mine.html", data, who=viewer(request))


def submission_data(request: Request) -> dict[str, Any]:
    spec, who = competition(request), viewer(request)
    workspace, sid = site(request).workspace, request.path_params["submission_id"]
    ranked = board.leaderboard(workspace, spec, private=False, participants=participant_names(request))
    row = next((r for r in ranked if r.get("submission_id") == sid), None)
    if row is None:
        raise HTTPException(404, f"no submission {sid!r} on the {spec.name} leaderboard")
    reveal = may_reveal(who, spec)
    note = ""
    if who and who.is_host and not board.figures(workspace, spec, sid, reveal=True):
        note = board.write_figures(workspace, spec.name, sid)  # a row from before reports: drawn for the host only
    return {
        "competition": board.competition_info(workspace, spec),
        "viewer": who_json(who),
        "private_available": reveal,
        "mine": bool(who and who.name == row.get("name")),
        "submission": board.public_view(row, reveal, who.name if who else None),
        "figures": sorted(board.figures(workspace, spec, sid, reveal=reveal)),
        "figures_hidden": not reveal,
        "figures_note": note,
    }


async def submission(request: Request) -> Response:
    data = await run_in_threadpool(submission_data, request)
    return render(request, "submission.html", data, who=viewer(request))


async def figure(request: Request) -> Response:
    spec, who = competition(request), viewer(request)
    params, workspace = request.path_params, site(request).workspace
    known = {row.get("submission_id") for row in await run_in_threadpool(board.rows, workspace, spec.name)}
    if params["submission_id"] not in known:  # an id from a request is looked up before it names a folder
        raise HTTPException(404, f"no submission {params['submission_id']!r} on the {spec.name} leaderboard")
    shown = board.figures(workspace, spec, params["submission_id"], reveal=may_reveal(who, spec))
    path = shown.get(params["figure"])  # looked up among the files a viewer may see, never joined as a path
    if path is None:
        raise HTTPException(404, f"no figure {params['figure']!r} for this submission")
    return FileResponse(path, media_type="image/png")


async def sign_in_page(request: Request) -> Response:
    who = viewer(request)
    return render(request, "sign_in.html", {"viewer": who_json(who), "next": next_target(request)}, who=who)


async def favicon(request: Request) -> Response:
    return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")


def next_target(request: Request) -> str:
    target = request.query_params.get("next") or "/competitions"
    return target if target.startswith("/") and not target.startswith("//") else "/competitions"
