"""``python -m edge_node`` runs the CLI (used by the Windows service wrapper)."""

from edge_node.cli import main

main()
