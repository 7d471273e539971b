"""The ASGI application behind ``bench serve``: one route table, one map from errors to statuses.

Pages (append ``.json`` for the same data as JSON)::

    /competitions                                   the workspace's competitions
    /competitions/{name}                            public leaderboard and upload (?sort= ?all=1 ?panel=1 ?by=group)
    /competitions/{name}/overview                   description, metric in words, rules, sizes, deadline
    /competitions/{name}/data                       the participant's data; /data.zip downloads it
    /competitions/{name}/mine                       the signed-in participant's submissions
    /competitions/{name}/private                    private leaderboard: after the deadline, or for the host
    /competitions/{name}/submissions/{id}           one submission: scores, intervals, report figures
    /sign-in, /sign-out                             token to cookie, and back

API (``Authorization: Bearer <token>``)::

    POST /api/competitions/{name}/submissions       multipart field ``file`` (CSV or Parquet); 201 with the result
                                                    (200 and the earlier row for bytes the participant sent before)
    POST /api/competitions/{name}/submissions/{id}/final   {"final": true|false}
    GET  /api/competitions/{name}/quota             today's submissions used and left

Every bad request gets one error, as JSON ``{"error": ..., "status": ...}`` (validation problems add
``problems`` and ``problem_count``, with line numbers as ``bench validate`` prints them) or, for a
browser, as a page that keeps the signed-in header.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from harness.errors import (
    BenchError,
    ClosedError,
    CompetitionError,
    ForbiddenError,
    QuotaError,
    SignInError,
    SubmissionError,
    UploadTooLarge,
)
from harness.serve import actions, views
from harness.serve.limits import BodyLimit, SecurityHeaders
from harness.serve.tokens import TokenStore
from harness.serve.web import HERE, Site, csrf_token, quiet_viewer, wants_json
from harness.workspace import Workspace

DEFAULT_MAX_UPLOAD_MB = 64
HOST_PATH = re.compile(r"/([\w.-]+)(?:/[\w.@+-]+)+/?")  # an absolute path whose first folder exists here
log = logging.getLogger("bench.serve")

STATUS = (  # the first class an error is an instance of gives its status; anything else is a 500
    (SignInError, 401),
    (ForbiddenError, 403),
    (UploadTooLarge, 413),
    (SubmissionError, 422),
    (QuotaError, 429),
    (ClosedError, 409),
    (CompetitionError, 400),
    (BenchError, 400),
)

POST = ["POST"]
ROUTES = [
    Route("/", lambda request: RedirectResponse("/competitions", 307)),
    Route("/favicon.ico", views.favicon),
    Route("/competitions.json", views.index),
    Route("/competitions", views.index),
    Route("/sign-in", views.sign_in_page),
    Route("/sign-in", actions.sign_in, methods=POST),
    Route("/sign-out", actions.sign_out, methods=POST),
    Route("/competitions/{name}.json", views.leaderboard),
    Route("/competitions/{name}", views.leaderboard),
    Route("/competitions/{name}/private.json", views.leaderboard),
    Route("/competitions/{name}/private", views.leaderboard),
    Route("/competitions/{name}/overview.json", views.competition_overview),
    Route("/competitions/{name}/overview", views.competition_overview),
    Route("/competitions/{name}/data.json", views.data_page),
    Route("/competitions/{name}/data", views.data_page),
    Route("/competitions/{name}/data.zip", views.data_zip),
    Route("/competitions/{name}/mine.json", views.my_submissions),
    Route("/competitions/{name}/mine", views.my_submissions),
    Route("/competitions/{name}/submit", actions.form_submit, methods=POST),
    Route("/competitions/{name}/submissions/{submission_id}.json", views.submission),
    Route("/competitions/{name}/submissions/{submission_id}", views.submission),
    Route("/competitions/{name}/submissions/{submission_id}/final", actions.form_final, methods=POST),
    Route("/competitions/{name}/submissions/{submission_id}/figures/{figure}", views.figure),
    Route("/api/competitions/{name}/submissions", actions.api_submit, methods=POST),
    Route("/api/competitions/{name}/submissions/{submission_id}/final", actions.api_final, methods=POST),
    Route("/api/competitions/{name}/quota", actions.api_quota),
    Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
]


def create_app(workspace: Workspace, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20) -> Any:
    """The app over ``workspace``; ``max_upload_bytes`` bounds every request body."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    actions.clear_stale_uploads(workspace)
    handlers = {HTTPException: error_response, BenchError: error_response, Exception: error_response}
    app = Starlette(routes=ROUTES, exception_handlers=handlers)
    app.state.site = Site(workspace, TokenStore(workspace), templates, int(max_upload_bytes))
    return SecurityHeaders(BodyLimit(app, max_upload_bytes))


def status_of(exc: Exception) -> int:
    if isinstance(exc, HTTPException):
        return exc.status_code
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def error_response(request: Request, exc: Exception) -> Response:
    """The one error handler: a status from :data:`STATUS`, the message without host paths, JSON or a page."""
    status = status_of(exc)
    if status == 500:
        log.exception("internal error on %s", request.url.path, exc_info=exc)
        message = "internal server error; the host's log has the details"
    else:
        message = scrub(request, _message(request, exc))
    body: dict[str, Any] = {"error": message, "status": status}
    if isinstance(exc, SubmissionError):
        body.update(problems=[scrub(request, p) for p in exc.problems], problem_count=exc.problem_count)
    if wants_json(request):
        return JSONResponse(body, status_code=status)
    who = quiet_viewer(request)
    name = request.path_params.get("name")
    body["back"] = f"/competitions/{name}" if name else "/competitions"
    body["sign_in"] = status == 401
    token = request.cookies.get("bench_token") if who else None
    context = {"data": body, "request": request, "me": who, "csrf": csrf_token(token) if token else ""}
    templates = request.app.state.site.templates
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _message(request: Request, exc: Exception) -> str:
    if isinstance(exc, HTTPException):
        if exc.status_code == 404 and exc.detail == "Not Found":
            return f"no page at {request.url.path}"
        if exc.status_code == 405:
            return f"{request.method} is not allowed on {request.url.path}"
        return str(exc.detail)
    return str(exc)


def scrub(request: Request, text: str) -> str:
    """``text`` without the host's paths (the workspace, the answers store, any other absolute path on
    this machine): a participant needs none of them. Addresses such as /competitions/x are kept."""
    workspace = str(request.app.state.site.workspace.root.resolve())
    text = text.replace(workspace, "<workspace>")
    return HOST_PATH.sub(lambda m: "<host path>" if Path("/" + m.group(1)).is_dir() else m.group(0), text)
