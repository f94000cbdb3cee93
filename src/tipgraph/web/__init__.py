"""The web app: one factory, one blueprint per area of the site.

gunicorn calls the factory itself (``tipgraph.web:create_app()``); tests call
it with their own settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask, current_app

from tipgraph.builds import BuildDir
from tipgraph.config import load_settings
from tipgraph.web.service import Build, Service


def create_app(settings: Mapping[str, object] | None = None) -> Flask:
    """Make the app serving the current build of ``settings["build_dir"]``, or the graph
    a remote store serves when ``settings["store_url"]`` names one.

    :param settings: overrides on top of defaults, ``tipgraph.toml`` and ``TIPGRAPH_*``
    """
    config = load_settings(settings)
    app = Flask(__name__)
    app.config["TIPGRAPH"] = config
    app.config["MAX_CONTENT_LENGTH"] = config["max_request_bytes"]
    app.extensions["tipgraph"] = Service(config, BuildDir(Path(config["build_dir"])),
                                         engine=_engine)
    from tipgraph.web import blueprints, compression, cors, errors, limits, result_cache, sparql

    for blueprint in blueprints.ALL:
        app.register_blueprint(blueprint)
    cors.init_app(app)
    errors.init_app(app)
    limits.init_app(app)
    sparql.init_app(app)  # inside Replay: a request answered here may be replayed
    result_cache.init_app(app)
    compression.init_app(app)  # outermost: the fast path's answers too
    return app


def _engine():  # the query processes of this worker, for the embedded store
    from tipgraph.web.sparql import get_engine

    return get_engine()


def get_service() -> Service:
    return current_app.extensions["tipgraph"]


def get_build() -> Build:
    """The build this request is served from."""
    return get_service().current()
