"""``sync-hub`` command line (the provincial hub arrives with the sync issue)."""

from __future__ import annotations

import click

from edge_node import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sync-hub")
def cli() -> None:
    """Provincial sync hub for commune edge nodes."""


def main() -> None:
    cli(prog_name="sync-hub")
