"""Settings: declared once here, read from defaults, ``tipgraph.toml``, then ``TIPGRAPH_*``.

Each :class:`Setting` drives ``--setting NAME VALUE``, ``tipgraph settings``
(the help) and the documentation test that fails when one is undocumented
(``tests/test_settings_documented.py``: help text here, a line in ``docs/settings.md``).

>>> load_settings(environ={"TIPGRAPH_QUERY_TIMEOUT": "5"}, config_file=None)["query_timeout"]
5.0
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tipgraph.errors import TipgraphError
from tipgraph.namespaces import DEFAULT_BASE

#: Default of the ``max_field_chars`` setting, and of the readers that take it
#: (:mod:`tipgraph.sources.values`): defined here, so the settings need no build stage.
MAX_FIELD_CHARS = 100_000


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str

    def parse(self, value: object) -> Any:
        """Convert ``value`` (often a string from the environment) to the default's type."""
        kind = type(self.default)
        try:
            if kind is bool and isinstance(value, str):
                if value.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError(value)
                return value.lower() in {"1", "true", "yes", "on"}
            if kind is list and isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return kind(value)
        except (TypeError, ValueError) as error:
            raise TipgraphError(f"setting {self.name}: {value!r} is not a {kind.__name__}") \
                from error


SETTINGS: tuple[Setting, ...] = (
    Setting("base_uri", DEFAULT_BASE, "Base of every instance URI the build mints."),
    Setting("build_dir", "build", "Directory of the builds; `current` names the one served."),
    Setting("max_shrink", 0.1, "Largest fraction of the publications in service (0.1: 10 %) "
            "a build may remove and still be switched in; a build removing more than this "
            "and more than min_shrink publications is kept but refused (`tipgraph build "
            "--allow-shrink` publishes it anyway). A build without any publication is always "
            "refused."),
    Setting("min_shrink", 10, "Publications a build may always remove, whatever max_shrink "
            "says (a small catalogue may lose a few)."),
    Setting("max_field_chars", MAX_FIELD_CHARS, "Longest value, in characters, one field of a "
            "source record may hold (each author or country counts alone); a longer one is "
            "dropped with a warning naming file, line and field, and a record whose title "
            "is dropped is rejected."),
    Setting("progress_after", 2.0, "Seconds a stage of `tipgraph build` runs before a line "
            "showing its progress (done, rate, time left) is drawn; on a terminal only, never "
            "in a log or a pipe."),
    Setting("query_timeout", 30.0, "Seconds a SPARQL query may run before it is stopped "
            "(and, apart, its text search)."),
    Setting("max_results", 10000, "Most rows (or triples) one query answer carries; the rest "
            "is cut and the cut reported."),
    Setting("max_request_bytes", 1_000_000, "Largest request body accepted, in bytes."),
    Setting("max_query_depth", 100, "Deepest nesting of { ( [ a query may have; deeper ones "
            "are refused with 400 before they are parsed (a parser recursing 3,000 deep "
            "overflows its stack)."),
    Setting("max_result_bytes", 64 * 1024 * 1024, "Largest query answer, in bytes; beyond "
            "it the answer is cut after the last whole row (or triple) that fits and the cut "
            "reported, as max_results does. 0: no cap."),
    Setting("max_query_chain", 1000, "Longest chain of operators and separators (. ; , / | "
            "^ ! && || + - * = < > UNION OPTIONAL MINUS ...) a query may have, counted along "
            "its nested groups; longer ones are refused with 400 before they are parsed (the "
            "parser recurses once per operator: 10,000 `!` or 10,000 triple patterns "
            "overflow its stack)."),
    Setting("max_concurrent_queries_per_client", 16, "Queries one client (remote address, "
            "or the address trusted proxies give) may have running or waiting at once in one "
            "web worker process; the next is answered 429 with Retry-After. Within it, the "
            "query processes are shared in turn (query_wait, query_share_seconds). 0: no "
            "limit."),
    Setting("query_workers", 2, "Query processes per web worker (a stopped query's process "
            "is replaced)."),
    Setting("query_wait", 15.0, "Seconds a query may wait for a query process; then it is "
            "answered 429 with Retry-After. While it waits, it holds no server thread that "
            "pages or /health need. Clients take turns: a free process goes to the waiting "
            "client with the fewest queries running, then the least process time used lately."),
    Setting("query_share_seconds", 3.0, "Seconds a query holds its process before a "
            "waiting client that runs fewer queries may take it: the longer query is stopped "
            "(503 with Retry-After, naming this setting) and its process replaced, so runaway "
            "queries from many addresses cannot keep other clients out. 0: a query keeps its "
            "process until query_timeout."),
    Setting("query_memory_mb", 1024.0, "Memory, in MiB, one query process may use "
            "evaluating a query (its heap, watched ten times a second); over it the query is "
            "stopped with 503 naming this setting and the process replaced. 0: no limit."),
    Setting("client_timeout", 10.0, "Seconds a client may take to send a whole request "
            "(headers and body) and may stay idle between two requests on one connection; "
            "then the connection is closed (408 when a request was begun). Requests are read "
            "completely before a server thread is given to them."),
    Setting("send_timeout", 30.0, "Seconds a client may go without reading any of its "
            "answer; then the connection is closed."),
    Setting("trusted_proxies", 0, "Reverse proxies in front of the server whose "
            "X-Forwarded-For/-Proto/-Host/-Port/-Prefix (or Forwarded) headers are trusted, "
            "for the client's address (its fair share) and the URLs the site links to; 0: "
            "those headers are ignored and the peer address is the client."),
    Setting("result_cache_mb", 64.0, "Memory, in MiB for all web workers together, for "
            "answers of /sparql kept for the build in service (a repeated query with the same "
            "format is answered from the kept answer, whichever worker computed it; least "
            "recently used answers evicted first); 0: no cache."),
    Setting("result_cache_dir", "", "Directory of the kept answers of /sparql, shared by the "
            "web workers; empty: a new directory in shared memory (/dev/shm) made by `tipgraph "
            "serve` and removed when it stops."),
    Setting("document_links", 50, "Most resources linking to one resource by one property that "
            "its document and page carry (a region has thousands of publications): the rest "
            "are on the next pages of the document (?page=2), which each page links to."),
    Setting("service_allowlist", [], "Endpoints that SERVICE may query (comma-separated); "
            "empty: SERVICE makes no outbound request."),
    Setting("cors_origins", "*", "Value of Access-Control-Allow-Origin."),
    Setting("license", "https://creativecommons.org/publicdomain/zero/1.0/",
            "Licence of the dataset's own statements (VoID/DCAT dct:license)."),
    Setting("rights", "The catalogue's structure and links are free to reuse; the rights in "
            "titles and abstracts remain with their publishers.",
            "Rights statement of the dataset (dct:rights)."),
    Setting("publisher_name", "tipgraph", "Name of who publishes the dataset (dct:publisher "
            "of the DCAT catalogue, dataset and service; publisher and creator in schema.org)."),
    Setting("publisher_url", "", "Web page of the publisher, also its IRI in DCAT; empty: "
            "the publisher is <base_uri>dataset#publisher, with a name only."),
    Setting("contact_email", "", "E-mail address of the dataset's contact point "
            "(dcat:contactPoint, vcard:hasEmail); empty: the contact point gives a URL only."),
    Setting("contact_url", "", "Web page of the dataset's contact point (vcard:hasURL); "
            "empty: publisher_url, or else the site's home page."),
    Setting("keywords", ["trafficking in persons", "human trafficking", "migration",
                         "publications", "bibliography"],
            "Keywords of the dataset (dcat:keyword, schema.org keywords; comma-separated), "
            "besides the categories of the catalogue."),
    Setting("dataset_themes", ["SOCI", "JUST", "INTR"], "Themes of the dataset: codes of "
            "the EU data-theme vocabulary (dcat:theme; comma-separated): SOCI population and "
            "society, JUST justice, legal system and public safety, INTR international "
            "issues, GOVE, HEAL, EDUC, ECON, REGI, ..."),
    Setting("public_url", "", "Root URL the server is reached at, for the endpoint, dump and "
            "page links in VoID/DCAT and the sitemap; empty: the URL each request came to (through "
            "trusted_proxies' headers), and those answers are then not cached by shared caches, "
            "so a forged Host header cannot poison them."),
    Setting("store_url", "", "SPARQL endpoint of a remote store to serve from (see `tipgraph "
            "publish`); empty: the embedded store of the current build in build_dir."),
    Setting("store_graphs", "", "Prefix of the named graphs `tipgraph publish` writes to the "
            "remote store; empty: <base_uri>graph/."),
    Setting("store_poll", 5.0, "Seconds between two looks at which graph the remote store "
            "serves (a newly published graph is served within this time)."),
    Setting("oai_repository_id", "", "Repository identifier of the OAI-PMH identifiers "
            "(oai:<id>:<slug>) at /oai: a domain name the publisher controls; empty: made "
            "from base_uri (its host, preceded by its path's steps, last first: "
            "tipgraph.w3id.org), never from the request's host, so identifiers never change."),
    Setting("oai_admin_email", [], "E-mail addresses (comma-separated) that /oai's Identify "
            "names for the repository's administrator; empty: tipgraph@<oai repository id>."),
    Setting("oai_page_size", 100, "Records (or headers) per ListRecords and ListIdentifiers "
            "response of /oai; the rest follows through a resumptionToken."),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

#: The settings file, read from the directory a command runs in.
CONFIG_FILE = Path("tipgraph.toml")

#: Characters no IRI may hold (RFC 3987), which a base would pass on to every URI minted.
_NOT_IN_IRI = set(' <>"{}|\\^`') | {chr(c) for c in range(0x20)}


def check_base_uri(value: str) -> str:
    """``value`` if it can be the base of instance URIs: absolute http(s), a host, ending in /.

    Checked before a build starts, so a bad ``--base`` is one sentence and no file is written.

    >>> check_base_uri("http://data.example.org/tip/")
    'http://data.example.org/tip/'
    >>> check_base_uri("not a uri")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tipgraph.errors.TipgraphError: base URI 'not a uri' is not an absolute http or https URI...
    """
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.netloc or not value.endswith("/")
            or parts.query or parts.fragment or _NOT_IN_IRI & set(value)):
        raise TipgraphError(f"base URI {value!r} is not an absolute http or https URI ending "
                            f"in / (such as {DEFAULT_BASE})")
    return value


def load_settings(overrides: Mapping[str, object] | None = None, *,
                  environ: Mapping[str, str] | None = None,
                  config_file: Path | None = CONFIG_FILE) -> dict[str, Any]:
    """Defaults, then ``tipgraph.toml``, then ``TIPGRAPH_*`` variables, then ``overrides``.

    :raises TipgraphError: for an unknown setting name, a value of the wrong type, a
        ``tipgraph.toml`` that is not TOML or a base URI that cannot be one
    """
    settings = {s.name: s.default for s in SETTINGS}
    layers: list[Mapping[str, object]] = []
    if config_file is not None and config_file.is_file():
        try:
            layers.append(tomllib.loads(config_file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise TipgraphError(f"{config_file} cannot be read as TOML: {error}") from error
    environ = os.environ if environ is None else environ
    layers.append({k.removeprefix("TIPGRAPH_").lower(): v for k, v in environ.items()
                   if k.startswith("TIPGRAPH_")})
    layers.append(overrides or {})
    for layer in layers:
        for name, value in layer.items():
            if name not in SETTINGS_BY_NAME:
                raise TipgraphError(f"unknown setting {name!r}; see `tipgraph settings`")
            settings[name] = SETTINGS_BY_NAME[name].parse(value)
    check_base_uri(settings["base_uri"])
    return settings
