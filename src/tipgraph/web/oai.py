"""``/oai``: the OAI-PMH 2.0 data provider, for the aggregators of publications.

The protocol is answered by :mod:`tipgraph.web.oai_protocol` (no Flask there) from the
read model of the build in service (:func:`tipgraph.serving.oai.repository_of`); this
blueprint reads the request (GET query or POST form, as the spec allows both) and sends
the XML. Protocol errors are ``200`` with an ``<error>`` element, as OAI-PMH says; a
build without OAI records (made before they were written, or a remote store's) answers
``503`` with a sentence.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from tipgraph.serving.oai import Metadata, read_metadata, repository_of
from tipgraph.web.context import get_build, get_settings, public_root
from tipgraph.web.oai_protocol import Identity, respond

bp = Blueprint("oai", __name__)

REPOSITORY_NAME = "tipgraph: publications on trafficking in persons"


@bp.route("/oai", methods=["GET", "POST"])
def oai() -> Response:
    build = get_build()
    settings = get_settings()
    found = repository_of(build)
    if found is None:
        return Response(f"build {build.id} has no OAI-PMH records (it was made before they "
                        "were written, or is served from a remote store): rebuild to harvest "
                        "it", status=503, mimetype="text/plain", headers={"Retry-After": "3600"})
    source = request.form if request.method == "POST" else request.args
    arguments = {name: source.getlist(name) for name in source}
    emails = tuple(settings.get("oai_admin_email") or []) \
        or (f"tipgraph@{found.repository_id}",)
    identity = Identity(REPOSITORY_NAME, public_root() + "oai", emails)

    def read(uris: list[str]) -> dict[str, Metadata]:
        return {uri: read_metadata(build, uri) for uri in uris}

    body = respond(arguments, found, identity, read, page_size=int(settings["oai_page_size"]))
    return Response(body, mimetype="text/xml", headers={"Cache-Control": "no-cache"})
