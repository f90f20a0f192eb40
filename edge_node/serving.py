"""Serving a WSGI app with waitress until Ctrl+C or SIGTERM (node and hub alike)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

import click
import waitress

from edge_node.exitcodes import PORT_TAKEN, ExitError


def serve_forever(app, *, host: str, port: int, threads: int, ident: str, banner: list[str],
                  on_start: Callable[[], Callable[[], None]] | None = None) -> None:
    """Listen, print *banner*, serve; stop cleanly on Ctrl+C or a service manager's SIGTERM.

    :param on_start: started after the socket is bound; returns its own stop function.
    :raises ExitError: exit code 10 when the address cannot be bound (e.g. the port is taken).
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads, ident=ident)
    except OSError as exc:
        raise ExitError(
            f"cannot listen on {host}:{port} ({exc.strerror}); is the port taken? "
            "Choose another with --port.", PORT_TAKEN) from None
    stop = on_start() if on_start else None
    for line in banner:
        click.echo(line)
    sys.stdout.flush()
    try:
        server.run()  # waitress returns (or raises KeyboardInterrupt) on Ctrl+C / SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        if stop:
            stop()
        server.close()
        click.echo("Stopped.")
