"""Cross-origin access for the whole site, so browser clients on other origins work.

Every response carries ``Access-Control-Allow-Origin`` (setting ``cors_origins``:
``*``, or a comma-separated list of origins, or empty for none); an ``OPTIONS``
preflight is answered with the methods and headers a SPARQL client needs.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS"
EXPOSED_HEADERS = "Content-Type, Content-Length, Link, Location, Warning, X-SPARQL-MaxRows"


def init_app(app: Flask) -> None:
    app.after_request(_add_cors_headers)


def _allowed_origin() -> str | None:
    setting = str(current_app.config["TIPGRAPH"]["cors_origins"]).strip()
    if setting == "*":
        return "*"
    origin = request.headers.get("Origin")
    allowed = {o.strip().rstrip("/") for o in setting.split(",") if o.strip()}
    return origin if origin and origin.rstrip("/") in allowed else None


def _add_cors_headers(response: Response) -> Response:
    origin = _allowed_origin()
    if origin is None:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    if origin != "*":
        response.vary.add("Origin")
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Accept, Content-Type")
        response.headers["Access-Control-Max-Age"] = "86400"
    return response
