"""Commune edge node: offline One-stop dossier handling for Vietnamese communes.

The app factory lives in :mod:`edge_node.web.app`; it is re-exported here so
``flask --app edge_node`` and tests can call :func:`create_app`.
"""

__version__ = "0.1.0"


def create_app(*args, **kwargs):
    """Build the Flask app (see :func:`edge_node.web.app.create_app`)."""
    from edge_node.web.app import create_app as _create_app

    return _create_app(*args, **kwargs)
