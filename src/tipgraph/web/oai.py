"""``/oai``: the OAI-PMH 2.0 data provider, for the aggregators of publications.

The protocol is answered by :mod:`tipgraph.oai.protocol` (no Flask there); this
blueprint reads the request (GET query or POST form, as the spec allows both), finds
the build in service and its OAI repository (made once per build and per switch
written: :func:`repository`), and sends the XML. Protocol errors are ``200`` with an
``<error>`` element, as OAI-PMH says; a build made before it wrote OAI records (or a
remote store's) answers ``503`` with a sentence.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, Response, current_app, request

from tipgraph.oai.datestamps import Datestamps
from tipgraph.oai.metadata import Metadata, read_metadata
from tipgraph.oai.protocol import Identity, respond
from tipgraph.oai.repository import Repository, default_repository_id, load_repository
from tipgraph.web import get_build, get_service
from tipgraph.web.dataset import public_root
from tipgraph.web.service import Build

bp = Blueprint("oai", __name__)

REPOSITORY_NAME = "tipgraph: publications on trafficking in persons"


def repository_id(settings: dict[str, Any]) -> str:
    """The repository identifier of the OAI identifiers: the setting, else derived from
    the base URI (never from the request's host, so identifiers never change)."""
    return settings.get("oai_repository_id") or default_repository_id(settings["base_uri"])


class _Repositories:
    """The repository of the build in service, made again when a switch is written."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[object, ...] | None = None
        self.value: Repository | None = None

    def get(self, build: Build, settings: dict[str, Any]) -> Repository | None:
        root = get_service().build_dir.root
        key = (build.id, Datestamps(root).version())
        if key != self.key:
            with self.lock:
                if key != self.key:
                    self.value = load_repository(root, build.path,
                                                 repository_id=repository_id(settings),
                                                 base=settings["base_uri"])
                    self.key = key
        return self.value


def repository(build: Build) -> Repository | None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache: _Repositories = app.extensions.setdefault("tipgraph.oai", _Repositories())
    return cache.get(build, get_service().settings)


@bp.route("/oai", methods=["GET", "POST"])
def oai() -> Response:
    build = get_build()
    settings = get_service().settings
    found = repository(build)
    if found is None:
        return Response(f"build {build.id} has no OAI-PMH records (it was made before they "
                        "were written, or is served from a remote store): rebuild to harvest "
                        "it", status=503, mimetype="text/plain", headers={"Retry-After": "3600"})
    source = request.form if request.method == "POST" else request.args
    arguments = {name: source.getlist(name) for name in source}
    base = settings["base_uri"]
    emails = tuple(settings.get("oai_admin_email") or []) \
        or (f"tipgraph@{found.repository_id}",)
    identity = Identity(REPOSITORY_NAME, public_root() + "oai", emails)

    def read(uris: list[str]) -> dict[str, Metadata]:
        return {uri: read_metadata(build.store, uri, base=base, build_id=build.id)
                for uri in uris}

    body = respond(arguments, found, identity, read, page_size=int(settings["oai_page_size"]))
    return Response(body, mimetype="text/xml", headers={"Cache-Control": "no-cache"})
