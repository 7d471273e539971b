"""``bench serve``: the competitions in a browser; ``bench serve token add|list|remove``: who may submit."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import app, console, err_console, workspace
from harness.errors import BenchError
from harness.serve.tokens import TokenStore

serve_app = typer.Typer(help="Serve the workspace's competitions in a browser; participants upload with a token.")
token_app = typer.Typer(help="Participants' tokens (stored hashed in serve/tokens.json).", no_args_is_help=True)
serve_app.add_typer(token_app, name="token")
app.add_typer(serve_app, name="serve")


@serve_app.callback(invoke_without_command=True)
def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Largest upload accepted.", min=0.001)] = 64,
) -> None:
    """Serve leaderboards, submission pages and an upload API over this workspace (uvicorn)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from harness.serve.app import create_app

    ws = workspace()
    _check_address(host, port)
    participants = TokenStore(ws).participants()
    if not participants:
        err_console.print(
            "[yellow]note:[/] no participant has a token yet, so nobody can submit; make one with "
            "`bench serve token add NAME`"
        )
    console.print(f"serving {escape(str(ws.root))} on http://{host}:{port}/ ({len(participants)} participant(s))")
    uvicorn.run(create_app(ws, max_upload_bytes=int(max_upload_mb * 2**20)), host=host, port=port, log_level="info")


def _check_address(host: str, port: int) -> None:
    """Fail with one line, before uvicorn starts, when the address cannot be listened on."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise BenchError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --host or --port"
        ) from None


@token_app.command("add")
def token_add(
    name: Annotated[str, typer.Argument(help="The participant's name; it labels their leaderboard rows.")],
    host: Annotated[
        bool, typer.Option("--host", help="A host token: sees private scores before the deadline.")
    ] = False,
) -> None:
    """Make a token for a participant and print it once (only its hash is kept)."""
    token = TokenStore(workspace()).add(name, "host" if host else "participant")
    err_console.print(f"token for {escape(name)}{' (host)' if host else ''}; it is shown only now:")
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List the participants who hold a token (never the tokens)."""
    participants = TokenStore(workspace()).participants()
    if not participants:
        console.print("no participants yet (bench serve token add NAME)")
        return
    table = Table("name", "role", "created")
    for participant in participants:
        table.add_row(escape(participant.name), participant.role, participant.created)
    console.print(table)


@token_app.command("remove")
def token_remove(name: Annotated[str, typer.Argument(help="The participant whose token stops working.")]) -> None:
    """Revoke a participant's token; their leaderboard rows stay."""
    TokenStore(workspace()).remove(name)
    console.print(f"removed the token of {escape(name)}")
