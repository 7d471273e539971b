"""ASGI wrappers of the app: a bound on request bodies (an upload larger than the limit is refused,
never read whole into memory) and the security headers of every response."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import UploadTooLarge

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI wrapper: refuses a declared ``Content-Length`` over ``limit`` at once and stops a chunked
    body as soon as it passes the limit (the app sees :class:`UploadTooLarge` from ``receive``)."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = int(limit)

    def _message(self) -> str:
        return (
            f"the upload is larger than this server's limit of {self.limit / 2**20:g} MiB (bench serve --max-upload-mb)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = declared is not None and declared.isdigit() and int(declared) > self.limit
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            if too_large:
                raise UploadTooLarge(self._message())
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise UploadTooLarge(self._message())
            return message

        await self.app(scope, limited_receive, send)


HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI wrapper: every response forbids framing (clickjacking) and loads nothing from other sites."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
