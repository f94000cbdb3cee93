"""Every blueprint of the site, in registration order (one module per area), and what a
worker does with them when it starts."""

from __future__ import annotations

from flask import Blueprint, Flask

from tipgraph.web import dataset, pages, resources, sparql

ALL: list[Blueprint] = [sparql.bp, pages.bp, resources.bp, dataset.bp]
#: Compiled when a worker starts, not on its first page.
TEMPLATES = ("home.html", "browse.html", "resource.html")


def open_at_start(app: Flask) -> None:
    """When the app is made (each gunicorn worker makes its own), open the current build,
    which loads the indexes it wrote, so that the worker's first request finds them ready.
    A remote store's build waits for its first request (opening it copies its dumps)."""
    service = app.extensions["tipgraph"]
    if service.builds.link is None or service.builds.locate() is None:
        return
    try:
        service.current()
        for name in TEMPLATES:
            app.jinja_env.get_template(name)
    except Exception:  # the first request opens it again, and says what is wrong
        app.logger.exception("could not open the current build at start-up")
