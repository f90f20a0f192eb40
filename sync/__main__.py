"""``python -m sync`` runs the hub CLI."""

from sync.cli import main

main()
