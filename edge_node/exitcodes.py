"""Exit codes of ``edge-node`` that scripts and service managers may rely on.

``status`` answers with 0, 3, 4, 5, 6 or 7; ``serve`` and ``up`` stop with
5 to 10 when they cannot start. 1 is any other error, 2 a usage error (click).
The table is documented in docs/install.md; numbers never change meaning.
"""

from __future__ import annotations

import click

RUNNING = 0  # status: a server holds the home and serves
STOPPED = 3  # status: nothing runs; the last server stopped cleanly (or none ever ran)
UNCLEAN = 4  # status: nothing runs, but the last server did not stop cleanly (kill -9, power cut)
LOCKED = 5  # another process holds the home (init, restore, a second server, one still starting)
DB_CORRUPT = 6  # the database fails SQLite's quick_check or is not a database
NO_HOME = 7  # no node home (no database) at that path
HOME_NOT_WRITABLE = 8  # serve/up: the home folder cannot be written
DISK_FULL = 9  # serve/up: less free space than the min_free_mb option asks
PORT_TAKEN = 10  # serve/up: the address or port cannot be bound


class ExitError(click.ClickException):
    """A one-line error that ends the command with a documented exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
