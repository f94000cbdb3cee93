"""Every blueprint of the site, in registration order (one module per area), and what a
worker does with them when it starts."""

from __future__ import annotations

from flask import Blueprint, Flask

from tipgraph.web import dataset, exports, oai, pages, resources, site, sparql
from tipgraph.worldmap import load_shapes

ALL: list[Blueprint] = [sparql.bp, pages.bp, resources.bp, dataset.bp, oai.bp, site.bp,
                        exports.bp]
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
        load_shapes()  # the world map's shapes, read once per worker (1 s), not on a page
    except Exception:  # the first request opens it again, and says what is wrong
        app.logger.exception("could not open the current build at start-up")
