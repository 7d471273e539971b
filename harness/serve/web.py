"""What every view of ``bench serve`` needs: the site's state, who is asking, the competition named,
rendering a page as HTML or JSON, and the checks on state-changing browser requests (CSRF).

A browser signs in once (``/sign-in``: token to an HttpOnly cookie). Forms that change state carry
a CSRF field derived from that cookie's token, and a request whose ``Origin`` (or ``Referer``) is
another site's is refused, so a page elsewhere, even on another port of the same host, cannot act
as the signed-in participant. The API takes its token only from the ``Authorization`` header, never
from the cookie, so it cannot be driven by another site at all.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from harness.data.spec import CompetitionSpec
from harness.errors import BenchError, ForbiddenError, SignInError
from harness.serve import board
from harness.serve.tokens import Participant, TokenStore
from harness.workspace import Workspace

COOKIE = "bench_token"
CSRF_FIELD = "csrf"
HERE = Path(__file__).resolve().parent
SIGN_IN_HINT = "sign in with the token the host gave you (/sign-in), or send it as Authorization: Bearer <token>"


@dataclass(frozen=True)
class Site:
    """The state every request shares: the workspace, its participants, the page templates."""

    workspace: Workspace
    tokens: TokenStore
    templates: Jinja2Templates
    max_upload_bytes: int


def site(request: Request) -> Site:
    return request.app.state.site


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def viewer(request: Request) -> Participant | None:
    """Who is asking: the bearer token's participant (a wrong one is a 401), else the cookie's, else None."""
    token = bearer(request)
    if token is not None:
        who = site(request).tokens.identify(token)
        if who is None:
            raise SignInError(f"the token is not valid; {SIGN_IN_HINT}")
        return who
    return site(request).tokens.identify(request.cookies.get(COOKIE))


def quiet_viewer(request: Request) -> Participant | None:
    """:func:`viewer` for an error page: never raises (the page must render whatever went wrong)."""
    try:
        return site(request).tokens.identify(request.cookies.get(COOKIE))
    except (BenchError, AttributeError):
        return None


def participant(request: Request) -> Participant:
    who = viewer(request)
    if who is None:
        raise SignInError(f"a participant token is required: {SIGN_IN_HINT}")
    return who


def api_participant(request: Request) -> Participant:
    """The API's caller, from the ``Authorization`` header only (a cookie alone is not enough: CSRF)."""
    if bearer(request) is None:
        raise SignInError(
            "a participant token is required: send the header Authorization: Bearer <token> (a cookie is not enough)"
        )
    return participant(request)


def competition(request: Request) -> CompetitionSpec:
    name = request.path_params["name"]
    try:
        return board.known_competition(site(request).workspace, name)
    except BenchError as exc:
        raise HTTPException(404, str(exc)) from None


def csrf_token(token: str | None) -> str:
    """The CSRF field of forms for the holder of ``token`` (only someone who knows the token can make it)."""
    return hmac.new(b"bench-serve-csrf", (token or "").encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def check_origin(request: Request) -> None:
    """Refuse a state-changing request sent from another site's page (``Origin``, else ``Referer``)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        if source == "null":
            raise ForbiddenError("requests from an opaque origin are refused")
        return
    parsed = urllib.parse.urlsplit(source)
    if f"{parsed.scheme}://{parsed.netloc}" != f"{request.url.scheme}://{request.url.netloc}":
        raise ForbiddenError(f"a form from {parsed.scheme}://{parsed.netloc} may not act on this site")


async def signed_in_form(request: Request) -> tuple[Participant, Any]:
    """The signed-in participant of a browser's form post and the form, after the CSRF checks.

    The cookie is checked before the body is read, so an unsigned request never uploads anything.
    """
    check_origin(request)
    who = site(request).tokens.identify(request.cookies.get(COOKIE))
    if who is None:
        raise SignInError(f"you are not signed in: {SIGN_IN_HINT}")
    form = await request.form(max_files=1, max_fields=5)
    offered = str(form.get(CSRF_FIELD) or "")
    if not hmac.compare_digest(offered, csrf_token(request.cookies.get(COOKIE))):
        raise ForbiddenError("the form's CSRF field is missing or wrong; reload the page and try again")
    return who, form


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith(".json") or "text/html" not in request.headers.get("accept", "")


def render(
    request: Request, template: str, data: dict[str, Any], status: int = 200, who: Participant | None = None
) -> Response:
    """``data`` as JSON (for a ``.json`` address) or as the HTML page ``template``."""
    if request.url.path.endswith(".json"):
        return JSONResponse(data, status_code=status)
    token = request.cookies.get(COOKIE) if who is not None else None
    context = {"data": data, "request": request, "me": who, "csrf": csrf_token(token) if token else ""}
    return site(request).templates.TemplateResponse(request, template, context, status_code=status)


def who_json(who: Participant | None) -> dict[str, str] | None:
    return {"name": who.name, "role": who.role} if who else None
