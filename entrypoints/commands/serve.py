"""``allot serve``: the HTTP API over the database, with webhook delivery (and a sandbox venue) in the background."""

from __future__ import annotations

import contextlib
import logging
import secrets

import click
from starlette.routing import BaseRoute, Mount

from adapters.store_protocol import STORE_PATH
from core.tenants import check_service_token
from entrypoints.bootstrap import store_database, store_token
from entrypoints.http.routing import MAX_BODIES_PER_CALLER, Settings
from entrypoints.http.sandbox import sandbox_routes
from entrypoints.http.server import (
    BODY_TIMEOUT,
    HEADER_TIMEOUT,
    KEEP_ALIVE_TIMEOUT,
    MAX_CONNECTIONS,
    Limits,
    listen,
    run,
    server_app,
)
from entrypoints.http.store_api import store_app
from entrypoints.params import TEXT
from entrypoints.session import Session, with_session


@click.command()
@click.option("--db", "db", metavar="PATH", help="The database (the same as allot --db PATH serve).")
@click.option("--durability", type=click.Choice(["full", "normal"], case_sensitive=False),
              help="The same as allot --durability (full, the default, or normal) before the command.")  # fmt: skip
@click.option("--host", type=TEXT, default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="The port to listen on (0: any free port, printed at start).")  # fmt: skip
@click.option("--sandbox", is_flag=True,
              help="Run the simulated venue on an interval, and accept POST /sandbox/market/run.")  # fmt: skip
@click.option("--market-interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True,
              help="Seconds between two market runs with --sandbox.")  # fmt: skip
@click.option("--store-api", is_flag=True,
              help="Also serve the storage port under /store/v1, for engine processes run with --store URL. Its "
                   "token comes from ALLOT_STORE_TOKEN; if unset, a new one is printed once.")  # fmt: skip
@click.option("--max-connections", type=click.IntRange(1, 100_000), default=MAX_CONNECTIONS, show_default=True,
              help="Connections served at once, idle ones included; a request on one more is answered 503 "
                   "TOO_MANY_CONNECTIONS and its connection closed.")  # fmt: skip
@click.option("--header-timeout", type=click.FloatRange(0.1, 3600), default=HEADER_TIMEOUT, show_default=True,
              help="Seconds a connection has to send a request's line and headers (from when it opens, or from "
                   "its previous answer); then it is closed.")  # fmt: skip
@click.option("--body-timeout", type=click.FloatRange(0.1, 3600), default=BODY_TIMEOUT, show_default=True,
              help="Seconds a request's body has to arrive in full after its headers; then it is answered 408 "
                   "REQUEST_TIMEOUT and its connection closed.")  # fmt: skip
@click.option("--max-bodies-per-caller", type=click.IntRange(1, 100_000), default=MAX_BODIES_PER_CALLER,
              show_default=True,
              help="Request bodies one caller (a user, a client-wide key, the operator) may be sending at once; one "
                   "more is answered 429 TOO_MANY_REQUESTS (Retry-After: 1) before its body is read, so that no "
                   "key holder sending slowly can hold every connection.")  # fmt: skip
@click.option("--keep-alive-timeout", type=click.IntRange(1, 3600), default=KEEP_ALIVE_TIMEOUT, show_default=True,
              help="Whole seconds an idle kept-alive connection stays open after an answer.")  # fmt: skip
@with_session
def serve(
    session: Session,
    db: str | None,
    durability: str | None,
    host: str,
    port: int,
    sandbox: bool,
    market_interval: float,
    store_api: bool,
    max_connections: int,
    header_timeout: float,
    body_timeout: float,
    max_bodies_per_caller: int,
    keep_alive_timeout: int,
) -> None:
    """Serve the HTTP API: portfolio orders and liquidations (snake_case), block trading (PascalCase),
    accounts, instruments, model portfolios, webhooks and the event feed; OpenAPI at /openapi.json, docs at
    /docs. Every route but /healthz needs Authorization: Bearer <key> (allot apikeys create). Webhooks are
    delivered in the background. A key is checked before a body is read; slow and idle clients are cut off
    (the limits below). SIGTERM finishes the requests under way and the workers, then exits 0."""
    if db is not None:
        session.choose_database(db)
    if durability is not None:
        session.choose_durability(durability, "serve --durability")
    logging.basicConfig(level=logging.WARNING, format="allot serve: %(levelname)s %(name)s: %(message)s")
    token = chosen_token() if store_api else None  # a token refused is refused before anything is opened
    app = session.open(writes=True)
    extra: list[BaseRoute] = list(sandbox_routes(app)) if sandbox else []
    with contextlib.ExitStack() as opened:
        if token is not None:
            database = store_database(session.database_file("serve --store-api"), session.durability)
            opened.callback(database.close)
            extra.append(Mount(STORE_PATH, app=store_app(database, token)))
        settings = Settings(sandbox=sandbox, max_bodies_per_caller=max_bodies_per_caller)
        starlette, _ = server_app(app, market_interval if sandbox else None, extra, settings)
        listening = listen(host, port)
        opened.callback(listening.close)
        shown_host = f"[{host}]" if ":" in host else host
        address = f"http://{shown_host}:{listening.getsockname()[1]}"
        message = f"allot serve: listening on {address} (durability {session.durability.value})"
        limits = Limits(
            max_connections=max_connections,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            keep_alive_timeout=keep_alive_timeout,
        )
        run(starlette, listening, ready=lambda: click.echo(message, err=True), limits=limits)
    click.echo("allot serve: stopped", err=True)


def chosen_token() -> str:
    """``ALLOT_STORE_TOKEN``, or a new token shown once (on stderr) for the engine processes to use."""
    token = store_token()
    if token is not None:
        check_service_token(token, "ALLOT_STORE_TOKEN")
    if token is None:
        token = secrets.token_urlsafe(32)
        click.echo(
            f"allot serve: the store API's token (set ALLOT_STORE_TOKEN to choose it): {token}", err=True
        )
    return token
