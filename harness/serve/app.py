"""The ASGI application behind ``bench serve``: every page as HTML and as JSON, and an upload API.

Pages (append ``.json`` for the same data as JSON)::

    /competitions                                   the workspace's competitions
    /competitions/{name}                            public leaderboard and upload form (?sort=column)
    /competitions/{name}/private                    private leaderboard: after the deadline, or for the host
    /competitions/{name}/submissions/{id}           one submission: scores, intervals, report figures

API (``Authorization: Bearer <token>``)::

    POST /api/competitions/{name}/submissions       multipart field ``file`` (CSV); 201 with the new row
    POST /api/competitions/{name}/submissions/{id}/final   {"final": true|false}
    GET  /api/competitions/{name}/quota             today's submissions used and left

Every bad request gets one JSON error ``{"error": ..., "status": ...}`` (validation problems add
``problems`` and ``problem_count``, with line numbers as ``bench validate`` prints them).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from harness.errors import BenchError, SubmissionError
from harness.serve import board, rules
from harness.serve.limits import BodyLimit, UploadTooLarge
from harness.serve.tokens import Participant, TokenStore, serve_dir
from harness.workspace import Workspace

HERE = Path(__file__).resolve().parent
COOKIE = "bench_token"
DEFAULT_MAX_UPLOAD_MB = 64
log = logging.getLogger("bench.serve")


def create_app(workspace: Workspace, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20) -> Any:
    """The app over ``workspace``; ``max_upload_bytes`` bounds every request body."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    tokens = TokenStore(workspace)

    def viewer(request: Request) -> Participant | None:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        who = tokens.identify(token)
        if header and who is None:
            raise HTTPException(401, "the token is not valid; ask the host for one (bench serve token add NAME)")
        return who

    def participant(request: Request, token: str | None = None) -> Participant:
        who = tokens.identify(token) if token else viewer(request)
        if who is None and token:
            raise HTTPException(401, "the token is not valid; ask the host for one (bench serve token add NAME)")
        if who is None:
            raise HTTPException(401, "a participant token is required (Authorization: Bearer <token>)")
        return who

    def competition(name: str):
        try:
            return board.known_competition(workspace, name)
        except BenchError as exc:
            raise HTTPException(404, str(exc)) from None

    def participant_names() -> set[str]:
        return {p.name for p in tokens.participants()}

    def page(request: Request, template: str, data: dict[str, Any], status: int = 200) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse(data, status_code=status)
        return templates.TemplateResponse(request, template, {"data": data, "request": request}, status_code=status)

    async def index(request: Request) -> Response:
        names = await run_in_threadpool(board.competitions, workspace)
        return page(request, "index.html", {"competitions": names})

    def board_data(request: Request, name: str, private: bool) -> dict[str, Any]:
        spec = competition(name)
        who = viewer(request)
        rule = rules.Rules.of(spec)
        may_see_private = bool(who and who.is_host) or rule.after_deadline()
        if private and not may_see_private:
            when = f"after the deadline ({rule.deadline.isoformat()})" if rule.deadline else "to the host only"
            raise HTTPException(403, f"the private leaderboard of {name} is shown {when}")
        sort = request.query_params.get("sort") or None
        by = request.query_params.get("by") or "run"
        if by not in ("run", "group"):
            raise HTTPException(400, f"by must be 'run' or 'group', got {by!r}")
        ranked = board.leaderboard(workspace, spec, private=private, participants=participant_names())
        shown = [board.public_view(row, private, who.name if who else None) for row in ranked]
        groups = group_entries(spec, private) if by == "group" else None
        if sort:
            shown = board.sort_rows(shown, sort) if groups is None else shown
            groups = board.sort_rows(groups, sort) if groups is not None else None
        return {
            "competition": board.competition_info(workspace, spec),
            "board": "private" if private else "public",
            "formats": list(board.upload_suffixes()),
            "private_available": may_see_private,
            "sort": sort,
            "viewer": {"name": who.name, "role": who.role} if who else None,
            "quota": board.quota(workspace, spec, who.name) if who else None,
            "panel": sorted({key for row in ranked for key in row["metrics"]}),
            "optional": [
                c
                for c in ("band", "group", "method", "search_ms_per_query")
                if any(r.get(c) not in ("", None) for r in shown)
            ],
            "by": by,
            "groups_available": not private,
            "groups": groups,
            "rows": shown,
        }

    def group_entries(spec, private: bool) -> list[dict[str, Any]]:
        if private:
            raise HTTPException(400, "seed groups are shown on the public board only (by public score)")
        return board.group_board(workspace, spec)

    async def leaderboard(request: Request) -> Response:
        name, private = (
            request.path_params["name"],
            request.url.path.rstrip("/").removesuffix(".json").endswith("/private"),
        )
        data = await run_in_threadpool(board_data, request, name, private)
        data["submitted"] = request.query_params.get("submitted")
        return page(request, "leaderboard.html", data)

    def submission_data(request: Request, name: str, submission_id: str) -> dict[str, Any]:
        spec = competition(name)
        who = viewer(request)
        see_private = bool(who and who.is_host) or rules.Rules.of(spec).after_deadline()
        ranked = board.leaderboard(workspace, spec, private=False, participants=participant_names())
        row = next((r for r in ranked if r.get("submission_id") == submission_id), None)
        if row is None:
            raise HTTPException(404, f"no submission {submission_id!r} on the {name} leaderboard")
        figures, note = _figures(workspace, name, submission_id)
        return {
            "competition": board.competition_info(workspace, spec),
            "viewer": {"name": who.name, "role": who.role} if who else None,
            "private_available": see_private,
            "mine": bool(who and who.name == row.get("name")),
            "submission": board.public_view(row, see_private, who.name if who else None),
            "figures": sorted(figures),
            "figures_note": note,
        }

    async def submission(request: Request) -> Response:
        params = request.path_params
        data = await run_in_threadpool(submission_data, request, params["name"], params["submission_id"])
        return page(request, "submission.html", data)

    async def figure(request: Request) -> Response:
        params = request.path_params
        spec = competition(params["name"])
        known = {row.get("submission_id") for row in await run_in_threadpool(board.rows, workspace, spec.name)}
        if params["submission_id"] not in known:  # an id from a request is looked up before it names a folder
            raise HTTPException(404, f"no submission {params['submission_id']!r} on the {spec.name} leaderboard")
        figures, _ = await run_in_threadpool(_figures, workspace, spec.name, params["submission_id"], False)
        path = figures.get(params["figure"])  # looked up among the files that exist, never joined as a path
        if path is None:
            raise HTTPException(404, f"no figure {params['figure']!r} for this submission")
        return FileResponse(path, media_type="image/png")

    async def receive_upload(request: Request, name: str, form_token: bool) -> dict[str, Any]:
        spec = competition(name)
        form = await request.form(max_files=1, max_fields=5)
        who = participant(request, (form.get("token") or None) if form_token else None)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(400, "no file in the upload: send it as the multipart field 'file'")
        suffix = Path(upload.filename or "upload.csv").suffix.lower() or ".csv"
        if suffix not in board.upload_suffixes():
            raise HTTPException(
                415, f"a submission must be one of {', '.join(board.upload_suffixes())}, got {suffix!r}"
            )
        inbox = serve_dir(workspace) / "uploads"
        inbox.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=inbox) as folder:
            path = Path(folder) / f"upload{suffix}"  # the client's file name is never a path here
            with open(path, "wb") as handle:
                while chunk := await upload.read(1 << 20):
                    handle.write(chunk)
            try:
                result = await run_in_threadpool(board.accept_upload, workspace, spec, who, path)
            except SubmissionError as exc:
                shown = upload.filename or "upload"
                if exc.problems:
                    raise SubmissionError(
                        f"{shown} is not a valid submission: {exc.problem_count} problem(s)",
                        exc.problems,
                        exc.problem_count,
                    ) from None
                raise SubmissionError(str(exc).replace(str(path), shown)) from None
        return result

    async def api_submit(request: Request) -> Response:
        result = await receive_upload(request, request.path_params["name"], form_token=False)
        result["row"] = board.public_view(result["row"], False)
        return JSONResponse(result, status_code=201)

    async def form_submit(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            result = await receive_upload(request, name, form_token=True)
        except (BenchError, HTTPException) as exc:
            return _error_page(templates, request, exc)
        target = f"/competitions/{name}?submitted={result['submission_id']}"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, _token_of(request, await request.form()), httponly=True, samesite="strict")
        return response

    async def api_final(request: Request) -> Response:
        params = request.path_params
        spec = competition(params["name"])
        who = participant(request)
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, 'send a JSON body such as {"final": true}') from None
        if not isinstance(body, dict) or not isinstance(body.get("final"), bool):
            raise HTTPException(400, 'send a JSON body such as {"final": true}')
        marked = await run_in_threadpool(board.mark_final, workspace, spec, who, params["submission_id"], body["final"])
        return JSONResponse({"participant": who.name, "final_submissions": marked})

    async def form_final(request: Request) -> Response:
        params = request.path_params
        try:
            spec = competition(params["name"])
            who = participant(request)
            final = (await request.form()).get("final") == "1"
            await run_in_threadpool(board.mark_final, workspace, spec, who, params["submission_id"], final)
        except (BenchError, HTTPException) as exc:
            return _error_page(templates, request, exc)
        return RedirectResponse(f"/competitions/{params['name']}/submissions/{params['submission_id']}", 303)

    async def api_quota(request: Request) -> Response:
        spec = competition(request.path_params["name"])
        who = participant(request)
        data = await run_in_threadpool(board.quota, workspace, spec, who.name)
        return JSONResponse({"participant": who.name, "competition": spec.name, **data})

    async def sign_out(request: Request) -> Response:
        response = RedirectResponse("/competitions", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    routes = [
        Route("/", lambda request: RedirectResponse("/competitions", 307)),
        Route("/competitions.json", index),
        Route("/competitions", index),
        Route("/competitions/{name}.json", leaderboard),
        Route("/competitions/{name}", leaderboard),
        Route("/competitions/{name}/private.json", leaderboard),
        Route("/competitions/{name}/private", leaderboard),
        Route("/competitions/{name}/submit", form_submit, methods=["POST"]),
        Route("/competitions/{name}/submissions/{submission_id}.json", submission),
        Route("/competitions/{name}/submissions/{submission_id}", submission),
        Route("/competitions/{name}/submissions/{submission_id}/final", form_final, methods=["POST"]),
        Route("/competitions/{name}/submissions/{submission_id}/figures/{figure}", figure),
        Route("/api/competitions/{name}/submissions", api_submit, methods=["POST"]),
        Route("/api/competitions/{name}/submissions/{submission_id}/final", api_final, methods=["POST"]),
        Route("/api/competitions/{name}/quota", api_quota),
        Route("/sign-out", sign_out),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    handlers = {
        HTTPException: lambda request, exc: _error(request, templates, exc.status_code, _detail(request, exc)),
        UploadTooLarge: lambda request, exc: _error(request, templates, 413, str(exc)),
        rules.QuotaError: lambda request, exc: _error(request, templates, 429, str(exc)),
        rules.ClosedError: lambda request, exc: _error(request, templates, 409, str(exc)),
        SubmissionError: lambda request, exc: _error(
            request, templates, 422, str(exc), problems=exc.problems, problem_count=exc.problem_count
        ),
        BenchError: lambda request, exc: _error(request, templates, 400, str(exc)),
        Exception: _server_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    return BodyLimit(app, max_upload_bytes)


def _figures(workspace: Workspace, competition: str, submission_id: str, make: bool = True):
    """The run report's PNGs by file name, written (public queries only, no images) when missing."""
    folder = workspace.run_dir(submission_id) / "report"
    note = ""
    if make and not any(folder.glob("*.png")):  # a row from before the report existed
        note = board.write_figures(workspace, competition, submission_id)
    found = {p.name: p for p in folder.glob("*.png") if p.is_file()} if folder.is_dir() else {}
    return found, note


def _detail(request: Request, exc: HTTPException) -> str:
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no page at {request.url.path}"
    if exc.status_code == 405:
        return f"{request.method} is not allowed on {request.url.path}"
    return str(exc.detail)


def _token_of(request: Request, form) -> str:
    return str(form.get("token") or request.cookies.get(COOKIE) or "")


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith(".json") or "text/html" not in request.headers.get("accept", "")


def _error(request: Request, templates, status: int, message: str, **extra: Any) -> Response:
    body = {"error": message, "status": status, **extra}
    if _wants_json(request):
        return JSONResponse(body, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"data": body, "request": request}, status_code=status)


def _status_of(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    for kind, status in (
        (UploadTooLarge, 413),
        (rules.QuotaError, 429),
        (rules.ClosedError, 409),
        (SubmissionError, 422),
    ):
        if isinstance(exc, kind):
            return status
    return 400


def _error_page(templates, request: Request, exc: Exception) -> Response:
    """An HTML page for an error of a browser's form post, with a link back."""
    status = _status_of(exc)
    extra = {"problems": exc.problems, "problem_count": exc.problem_count} if isinstance(exc, SubmissionError) else {}
    message = exc.detail if isinstance(exc, HTTPException) else str(exc)
    body = {"error": message, "status": status, "back": f"/competitions/{request.path_params.get('name', '')}", **extra}
    return templates.TemplateResponse(request, "error.html", {"data": body, "request": request}, status_code=status)


def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s", request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal server error; the host's log has the details", "status": 500}, 500)
