"""The web app: one factory, one blueprint per area of the site.

gunicorn calls the factory itself (``tipgraph.web:create_app()``); tests call
it with their own settings. The app speaks HTTP: what it serves of each build
comes from the read side (:mod:`tipgraph.serving`), which views reach through
:mod:`tipgraph.web.context`.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from tipgraph.config import load_settings
from tipgraph.serving import Service
from tipgraph.web import (
    blueprints,
    compression,
    context,
    cors,
    errors,
    fast_documents,
    limits,
    sparql,
)
from tipgraph.web.proxies import behind_proxies


def create_app(settings: Mapping[str, object] | None = None) -> Flask:
    """Make the app serving the current build of ``settings["build_dir"]``, or the graph
    a remote store serves when ``settings["store_url"]`` names one.

    :param settings: overrides on top of defaults, ``tipgraph.toml`` and ``TIPGRAPH_*``
    """
    config = load_settings(settings)
    app = Flask(__name__)
    app.config["TIPGRAPH"] = config
    app.config["MAX_CONTENT_LENGTH"] = config["max_request_bytes"]
    app.extensions[context.SERVICE] = Service(config, engine=context.get_engine)
    for blueprint in blueprints.ALL:
        app.register_blueprint(blueprint)
    cors.init_app(app)
    errors.init_app(app)
    limits.init_app(app)
    sparql.init_app(app)  # the layers that answer /sparql before Flask routes it
    fast_documents.init_app(app)  # and a plain request for a resource's document
    compression.init_app(app)  # the fast path's and replay's answers too
    # outermost: every layer sees the client and the URL the trusted proxies give
    app.wsgi_app = behind_proxies(app.wsgi_app,  # type: ignore[method-assign]
                                  int(config["trusted_proxies"]))
    blueprints.open_at_start(app)
    return app
