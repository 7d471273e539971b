"""A bound on request bodies: an upload larger than the limit is refused, never read whole into memory."""

from __future__ import annotations

from harness.errors import BenchError


class UploadTooLarge(BenchError):
    """A request body over the server's limit."""


class BodyLimit:
    """ASGI wrapper: refuses a declared ``Content-Length`` over ``limit`` at once and stops a chunked
    body as soon as it passes the limit (the app sees :class:`UploadTooLarge` from ``receive``)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = int(limit)

    def _message(self) -> str:
        return (
            f"the upload is larger than this server's limit of {self.limit / 2**20:g} MiB (bench serve --max-upload-mb)"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = declared is not None and declared.isdigit() and int(declared) > self.limit
        seen = 0

        async def limited_receive():
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
