"""What changes state on ``bench serve``: uploads, final marks, signing in and out; each as an API call
(``Authorization: Bearer``) and as a browser form (signed-in cookie plus CSRF field, see :mod:`web`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from harness.errors import SignInError, SubmissionError
from harness.scoring.submit import process_alive
from harness.serve import board
from harness.serve.tokens import Participant, serve_dir
from harness.serve.views import next_target, participant_names
from harness.serve.web import COOKIE, api_participant, check_origin, competition, signed_in_form, site

if TYPE_CHECKING:
    from starlette.datastructures import UploadFile

    from harness.workspace import Workspace

UPLOAD_PREFIX = "upload-"  # serve/uploads/upload-<pid>-*: a folder per upload in flight


def inbox(workspace: Workspace) -> Path:
    return serve_dir(workspace) / "uploads"


def clear_stale_uploads(workspace: Workspace) -> None:
    """Remove the upload folders of server processes that are gone (killed mid-upload), and any
    folder not named by a live process (from before folders carried their process id)."""
    folder = inbox(workspace)
    for entry in folder.iterdir() if folder.is_dir() else []:
        pid = entry.name.removeprefix(UPLOAD_PREFIX).split("-", 1)[0] if entry.name.startswith(UPLOAD_PREFIX) else ""
        if not pid.isdigit() or not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


async def score_upload(request: Request, who: Participant, upload: UploadFile | str | None) -> dict[str, Any]:
    """Keep the uploaded file in a private folder, score it as ``who``'s, and remove the folder."""
    spec = competition(request)
    if upload is None or isinstance(upload, str):
        raise HTTPException(400, "no file in the upload: send it as the multipart field 'file'")
    suffix = Path(upload.filename or "upload.csv").suffix.lower() or ".csv"
    if suffix not in board.upload_suffixes():
        raise HTTPException(415, f"a submission must be one of {', '.join(board.upload_suffixes())}, got {suffix!r}")
    workspace = site(request).workspace
    inbox(workspace).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=inbox(workspace), prefix=f"{UPLOAD_PREFIX}{os.getpid()}-") as folder:
        path = Path(folder) / f"upload{suffix}"  # the client's file name is never a path here
        with open(path, "wb") as handle:
            while chunk := await upload.read(1 << 20):
                handle.write(chunk)
        names = participant_names(request)
        try:
            return await run_in_threadpool(board.accept_upload, workspace, spec, who, path, names)
        except SubmissionError as exc:
            shown = upload.filename or "upload"
            if exc.problems:
                message = f"{shown} is not a valid submission: {exc.problem_count} problem(s)"
                raise SubmissionError(message, exc.problems, exc.problem_count) from None
            raise SubmissionError(str(exc).replace(str(path), shown)) from None


async def api_submit(request: Request) -> Response:
    who = api_participant(request)  # before the body is read: a stranger's upload is never received
    form = await request.form(max_files=1, max_fields=5)
    result = await score_upload(request, who, form.get("file"))
    return JSONResponse(result, status_code=200 if result["recorded_earlier"] else 201)  # 200: no new row


async def form_submit(request: Request) -> Response:
    who, form = await signed_in_form(request)
    result = await score_upload(request, who, form.get("file"))
    name = request.path_params["name"]
    earlier = "&earlier=1" if result["recorded_earlier"] else ""
    return RedirectResponse(f"/competitions/{name}?submitted={result['submission_id']}{earlier}", status_code=303)


async def api_final(request: Request) -> Response:
    spec, who = competition(request), api_participant(request)
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, 'send a JSON body such as {"final": true}') from None
    if not isinstance(body, dict) or not isinstance(body.get("final"), bool):
        raise HTTPException(400, 'send a JSON body such as {"final": true}')
    sid = request.path_params["submission_id"]
    marked = await run_in_threadpool(board.mark_final, site(request).workspace, spec, who, sid, body["final"])
    return JSONResponse({"participant": who.name, "final_submissions": marked})


async def form_final(request: Request) -> Response:
    spec = competition(request)
    who, form = await signed_in_form(request)
    sid = request.path_params["submission_id"]
    final = form.get("final") == "1"
    await run_in_threadpool(board.mark_final, site(request).workspace, spec, who, sid, final)
    back = str(form.get("back") or "")
    target = back if back.startswith("/competitions/") else f"/competitions/{spec.name}/submissions/{sid}"
    return RedirectResponse(target, 303)


async def api_quota(request: Request) -> Response:
    spec, who = competition(request), api_participant(request)
    data = await run_in_threadpool(board.quota, site(request).workspace, spec, who.name)
    return JSONResponse({"participant": who.name, "competition": spec.name, **data})


async def sign_in(request: Request) -> Response:
    """Token to an HttpOnly cookie (SameSite=Strict), then back where the participant came from."""
    check_origin(request)
    form = await request.form(max_files=0, max_fields=3)
    token = str(form.get("token") or "").strip()
    if site(request).tokens.identify(token) is None:
        raise SignInError("that token is not valid: paste the whole token the host gave you (it starts with bench_)")
    response = RedirectResponse(next_target(request), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=30 * 86400)
    return response


async def sign_out(request: Request) -> Response:
    check_origin(request)
    response = RedirectResponse("/competitions", status_code=303)
    response.delete_cookie(COOKIE)
    return response
