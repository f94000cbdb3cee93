# ruff: noqa: E501  (the W3C requests are kept verbatim, long lines and all)
"""The W3C SPARQL 1.1 Protocol tests, against the real server on 127.0.0.1.

Every ``mf:ProtocolTest`` of the W3C manifest (a copy is in
``tests/data/w3c/manifest.ttl``, with its licence) is written out below as
Python data: the requests, their expected status class, ASK answer and result
kind. The dataset is the manifest's: ``data1.nt``..``data3.nt`` loaded as named
graphs of a small build of their own. The endpoint is read-only, so the
``update_*`` cases check the opposite of the manifest's success: the update is
refused with a clear message and the follow-up ASK finds nothing changed.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyoxigraph
import pytest
from rdflib import Graph

from tipgraph.build_dir import BuildDir

Fetch = Any  # the ``http`` fixture: (url, method=, data=, headers=) -> (status, headers, body)
DATA = Path(__file__).resolve().parents[1] / "data" / "w3c"
KASEI = "http://kasei.us/2009/09/sparql/data/"
D0, D1, D2, D3 = (f"{KASEI}data{n}.rdf" for n in range(4))


@dataclass(frozen=True)
class Req:
    method: str
    params: list[tuple[str, str]] = field(default_factory=list)  # the URL's query string
    ctype: str | None = None  # Content-Type
    body: str | None = None
    encoding: str = "UTF-8"
    status: str = "2xx"  # "2xx" (2xx or 3xx) or "4xx"
    boolean: bool | None = None
    form: str | None = None  # "boolean", "tabular" or "RDF"


@dataclass(frozen=True)
class Case:
    name: str  # the manifest entry's local name
    title: str  # its mf:name
    requests: list[Req]

    @property
    def refused_update(self) -> bool:
        return self.name.startswith("update_")


CASES: list[Case] = [
    Case('query_post_form',
         'query via URL-encoded POST', [
        Req('POST', [('default-graph-uri', D0)], ctype='application/x-www-form-urlencoded', body='query=ASK%20%7B%7D', boolean=True, form='boolean'),
    ]),
    Case('query_dataset_default_graphs_get',
         'GET query with protocol-specified default graph', [
        Req('GET', [('query', """ASK { <http://kasei.us/2009/09/sparql/data/data1.rdf> a ?type . <http://kasei.us/2009/09/sparql/data/data2.rdf> a ?type . }"""), ('default-graph-uri', D1), ('default-graph-uri', D2)], boolean=True, form='boolean'),
    ]),
    Case('query_dataset_default_graphs_post',
         'POST query with protocol-specified default graphs', [
        Req('POST', [('default-graph-uri', D1), ('default-graph-uri', D2)], ctype='application/sparql-query', body="""ASK { <http://kasei.us/2009/09/sparql/data/data1.rdf> a ?type . <http://kasei.us/2009/09/sparql/data/data2.rdf> a ?type . }""", boolean=True, form='boolean'),
    ]),
    Case('query_dataset_named_graphs_post',
         'POST query with protocol-specified named graphs', [
        Req('POST', [('named-graph-uri', D1), ('named-graph-uri', D2)], ctype='application/sparql-query', body="""ASK { GRAPH ?g1 { <http://kasei.us/2009/09/sparql/data/data1.rdf> a ?type } GRAPH ?g2 { <http://kasei.us/2009/09/sparql/data/data2.rdf> a ?type } }""", boolean=True, form='boolean'),
    ]),
    Case('query_dataset_named_graphs_get',
         'GET query with protocol-specified named graphs', [
        Req('GET', [('query', """ASK { GRAPH ?g1 { <http://kasei.us/2009/09/sparql/data/data1.rdf> a ?type } GRAPH ?g2 { <http://kasei.us/2009/09/sparql/data/data2.rdf> a ?type } }"""), ('named-graph-uri', D1), ('named-graph-uri', D2)], boolean=True, form='boolean'),
    ]),
    Case('query_dataset_full',
         'query with protocol-specified dataset (both named and default graphs)', [
        Req('POST', [('default-graph-uri', D3), ('named-graph-uri', D1), ('named-graph-uri', D2)], ctype='application/sparql-query', body="""ASK {
  <http://kasei.us/2009/09/sparql/data/data3.rdf> a ?type
  GRAPH ?g1 { <http://kasei.us/2009/09/sparql/data/data1.rdf> a ?type }
  GRAPH ?g2 { <http://kasei.us/2009/09/sparql/data/data2.rdf> a ?type }
}""", boolean=True, form='boolean'),
    ]),
    Case('query_multiple_dataset',
         'query specifying dataset in both query string and protocol; test for use of protocol-specified dataset', [
        Req('POST', [('named-graph-uri', D1), ('named-graph-uri', D2)], ctype='application/sparql-query', body="""ASK FROM <http://kasei.us/2009/09/sparql/data/data3.rdf> { GRAPH ?g1 { <http://kasei.us/2009/09/sparql/data/data1.rdf> a ?type } GRAPH ?g2 { <http://kasei.us/2009/09/sparql/data/data2.rdf> a ?type } }""", boolean=True, form='boolean'),
    ]),
    Case('query_get',
         'query via GET', [
        Req('GET', [('query', 'ASK {}'), ('default-graph-uri', D0)], boolean=True, form='boolean'),
    ]),
    Case('query_content_type_select',
         'query appropriate content type (expect one of: XML, JSON, CSV, TSV)', [
        Req('POST', [('default-graph-uri', D0)], ctype='application/sparql-query', body='SELECT (1 AS ?value) {}', form='tabular'),
    ]),
    Case('query_content_type_ask',
         'query appropriate content type (expect one of: XML, JSON)', [
        Req('POST', [('default-graph-uri', D0)], ctype='application/sparql-query', body='ASK {}', form='boolean'),
    ]),
    Case('query_content_type_describe',
         'query appropriate content type (expect one of: RDF/XML, Turtle, N-Triples, RDFa)', [
        Req('POST', [('default-graph-uri', D0)], ctype='application/sparql-query', body='DESCRIBE <http://example.org/>', form='RDF'),
    ]),
    Case('query_content_type_construct',
         'query appropriate content type (expect one of: RDF/XML, Turtle, N-Triples, RDFa)', [
        Req('POST', [('default-graph-uri', D0)], ctype='application/sparql-query', body='CONSTRUCT { <s> <p> 1 } WHERE {}', form='RDF'),
    ]),
    Case('update_dataset_default_graph',
         'update with protocol-specified default graph', [
        Req('POST', [('using-graph-uri', D1)], ctype='application/sparql-update', body="""PREFIX dc: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
CLEAR ALL ;
INSERT DATA {
    GRAPH <http://kasei.us/2009/09/sparql/data/data1.rdf> {
        <http://kasei.us/2009/09/sparql/data/data1.rdf> a foaf:Document
    }
} ;
INSERT {
    GRAPH <http://example.org/protocol-update-dataset-test/> {
        ?s a dc:BibliographicResource
    }
}
WHERE {
    ?s a foaf:Document
}"""),
        Req('POST', ctype='application/sparql-query', body="""ASK {
    GRAPH <http://example.org/protocol-update-dataset-test/> {
        <http://kasei.us/2009/09/sparql/data/data1.rdf> a <http://purl.org/dc/terms/BibliographicResource>
    }
}""", boolean=True, form='boolean'),
    ]),
    Case('update_dataset_default_graphs',
         'update with protocol-specified default graphs', [
        Req('POST', [('using-graph-uri', D1), ('using-graph-uri', D2)], ctype='application/sparql-update', body="""PREFIX dc: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
DROP ALL ;
INSERT DATA {
    GRAPH <http://kasei.us/2009/09/sparql/data/data1.rdf> { <http://kasei.us/2009/09/sparql/data/data1.rdf> a foaf:Document }
    GRAPH <http://kasei.us/2009/09/sparql/data/data2.rdf> { <http://kasei.us/2009/09/sparql/data/data2.rdf> a foaf:Document }
    GRAPH <http://kasei.us/2009/09/sparql/data/data3.rdf> { <http://kasei.us/2009/09/sparql/data/data3.rdf> a foaf:Document }
} ;
INSERT {
    GRAPH <http://example.org/protocol-update-dataset-graphs-test/> {
        ?s a dc:BibliographicResource
    }
}
WHERE {
    ?s a foaf:Document
}"""),
        Req('POST', ctype='application/sparql-query', body="""ASK {
    GRAPH <http://example.org/protocol-update-dataset-graphs-test/> {
        <http://kasei.us/2009/09/sparql/data/data1.rdf> a <http://purl.org/dc/terms/BibliographicResource> .
        <http://kasei.us/2009/09/sparql/data/data2.rdf> a <http://purl.org/dc/terms/BibliographicResource> .
    }
    FILTER NOT EXISTS {
        GRAPH <http://example.org/protocol-update-dataset-graphs-test/> {
            <http://kasei.us/2009/09/sparql/data/data3.rdf> a <http://purl.org/dc/terms/BibliographicResource> .
        }
    }
}""", boolean=True, form='boolean'),
    ]),
    Case('update_dataset_named_graphs',
         'update with protocol-specified named graphs', [
        Req('POST', [('using-named-graph-uri', D1), ('using-named-graph-uri', D2)], ctype='application/sparql-update', body="""PREFIX dc: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
DROP ALL ;
INSERT DATA {
    GRAPH <http://kasei.us/2009/09/sparql/data/data1.rdf> { <http://kasei.us/2009/09/sparql/data/data1.rdf> a foaf:Document }
    GRAPH <http://kasei.us/2009/09/sparql/data/data2.rdf> { <http://kasei.us/2009/09/sparql/data/data2.rdf> a foaf:Document }
    GRAPH <http://kasei.us/2009/09/sparql/data/data3.rdf> { <http://kasei.us/2009/09/sparql/data/data3.rdf> a foaf:Document }
} ;
INSERT {
    GRAPH <http://example.org/protocol-update-dataset-named-graphs-test/> {
        ?s a dc:BibliographicResource
    }
}
WHERE {
    GRAPH ?g {
        ?s a foaf:Document
    }
}"""),
        Req('POST', ctype='application/sparql-query', body="""ASK {
    GRAPH <http://example.org/protocol-update-dataset-named-graphs-test/> {
        <http://kasei.us/2009/09/sparql/data/data1.rdf> a <http://purl.org/dc/terms/BibliographicResource> .
        <http://kasei.us/2009/09/sparql/data/data2.rdf> a <http://purl.org/dc/terms/BibliographicResource> .
    }
    FILTER NOT EXISTS {
        GRAPH <http://example.org/protocol-update-dataset-named-graphs-test/> {
            <http://kasei.us/2009/09/sparql/data/data3.rdf> a <http://purl.org/dc/terms/BibliographicResource> .
        }
    }
}""", boolean=True, form='boolean'),
    ]),
    Case('update_dataset_full',
         'update with protocol-specified dataset (both named and default graphs)', [
        Req('POST', [('using-graph-uri', D1), ('using-named-graph-uri', D2)], ctype='application/sparql-update', body="""PREFIX dc: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
DROP ALL ;
INSERT DATA {
    GRAPH <http://kasei.us/2009/09/sparql/data/data1.rdf> { <http://kasei.us/2009/09/sparql/data/data1.rdf> a foaf:Document }
    GRAPH <http://kasei.us/2009/09/sparql/data/data2.rdf> { <http://kasei.us/2009/09/sparql/data/data2.rdf> a foaf:Document }
    GRAPH <http://kasei.us/2009/09/sparql/data/data3.rdf> { <http://kasei.us/2009/09/sparql/data/data3.rdf> a foaf:Document }
} ;
INSERT {
    GRAPH <http://example.org/protocol-update-dataset-full-test/> {
        ?s <http://example.org/in> ?in
    }
}
WHERE {
    {
        GRAPH ?g { ?s a foaf:Document }
        BIND(?g AS ?in)
    }
    UNION
    {
        ?s a foaf:Document .
        BIND("default" AS ?in)
    }
}"""),
        Req('POST', ctype='application/sparql-query', body="""ASK {
    GRAPH <http://example.org/protocol-update-dataset-full-test/> {
        <http://kasei.us/2009/09/sparql/data/data1.rdf> <http://example.org/in> "default" .
        <http://kasei.us/2009/09/sparql/data/data2.rdf> <http://example.org/in> <http://kasei.us/2009/09/sparql/data/data2.rdf> .
    }
    FILTER NOT EXISTS {
        GRAPH <http://example.org/protocol-update-dataset-full-test/> {
            <http://kasei.us/2009/09/sparql/data/data3.rdf> ?p ?o
        }
    }
}""", boolean=True, form='boolean'),
    ]),
    Case('update_post_form',
         'update via URL-encoded POST', [
        Req('POST', ctype='application/x-www-form-urlencoded', body='update=CLEAR+ALL'),
    ]),
    Case('update_post_direct',
         'update via POST directly', [
        Req('POST', ctype='application/sparql-update', body='CLEAR ALL'),
    ]),
    Case('update_base_uri',
         'test for service-defined BASE URI ("which MAY be the service endpoint")', [
        Req('POST', ctype='application/sparql-update', body="""CLEAR SILENT GRAPH <http://example.org/protocol-base-test/> ;
INSERT DATA { GRAPH <http://example.org/protocol-base-test/> { <http://example.org/s> <http://example.org/p> <test> } }"""),
        Req('POST', ctype='application/sparql-query', body="""ASK {
    GRAPH <http://example.org/protocol-base-test/> {
        <http://example.org/s> <http://example.org/p> ?o
        FILTER (isIRI(?o) && STR(?o) != "test")
    }
}""", boolean=True, form='boolean'),
    ]),
    Case('query_post_direct',
         'query via POST directly', [
        Req('POST', ctype='application/sparql-query', body='ASK {}', boolean=True, form='boolean'),
    ]),
    Case('bad_query_method',
         'invoke query operation with a method other than GET or POST', [
        Req('PUT', [('query', 'ASK {}'), ('default-graph-uri', D0)], ctype='application/x-www-form-urlencoded', status='4xx'),
    ]),
    Case('bad_multiple_queries',
         'invoke query operation with more than one query string', [
        Req('GET', [('query', 'ASK {}'), ('query', 'SELECT * {}')], status='4xx'),
    ]),
    Case('bad_query_wrong_media_type',
         "invoke query operation with a POST with media type that's not url-encoded or application/sparql-query", [
        Req('POST', ctype='text/plain', body='ASK {}', status='4xx'),
    ]),
    Case('bad_query_missing_form_type',
         'invoke query operation with url-encoded body, but without application/x-www-form-urlencoded media type', [
        Req('POST', body='query=ASK%20%7B%7D', status='4xx'),
    ]),
    Case('bad_query_missing_direct_type',
         'invoke query operation with SPARQL body, but without application/sparql-query media type', [
        Req('POST', body='ASK {}', status='4xx'),
    ]),
    Case('bad_query_non_utf8',
         'invoke query operation with direct POST, but with a non-UTF8 encoding (UTF-16)', [
        Req('POST', ctype='application/sparql-query; charset=UTF-16', body='ASK {}', encoding='UTF-16', status='4xx'),
    ]),
    Case('bad_query_syntax',
         'invoke query operation with invalid query syntax (4XX result)', [
        Req('GET', [('query', 'ASK {')], status='4xx'),
    ]),
    Case('bad_update_get',
         'invoke update operation with GET', [
        Req('GET', [('update', 'CLEAR ALL')], status='4xx'),
    ]),
    Case('bad_multiple_updates',
         'invoke update operation with more than one update string', [
        Req('POST', ctype='application/x-www-form-urlencoded', body='update=CLEAR%20NAMED&update=CLEAR%20DEFAULT', status='4xx'),
    ]),
    Case('bad_update_wrong_media_type',
         "invoke update operation with a POST with media type that's not url-encoded or application/sparql-update", [
        Req('POST', ctype='text/plain', body='CLEAR NAMED', status='4xx'),
    ]),
    Case('bad_update_missing_form_type',
         'invoke update operation with url-encoded body, but without application/x-www-form-urlencoded media type', [
        Req('POST', body='update=CLEAR%20NAMED', status='4xx'),
    ]),
    Case('bad_update_non_utf8',
         'invoke update operation with direct POST, but with a non-UTF8 encoding', [
        Req('POST', ctype='application/sparql-update; charset=UTF-16', body='CLEAR NAMED', encoding='UTF-16', status='4xx'),
    ]),
    Case('bad_update_syntax',
         'invoke update operation with invalid update syntax', [
        Req('POST', ctype='application/x-www-form-urlencoded', body='update=CLEAR%20XYZ', status='4xx'),
    ]),
    Case('bad_update_dataset_conflict',
         'invoke update with both using-graph-uri/using-named-graph-uri parameter and USING/WITH clause', [
        Req('POST', [('using-named-graph-uri', 'http://example/people')], ctype='application/sparql-update', body="""PREFIX foaf:  <http://xmlns.com/foaf/0.1/>
WITH <http://example/addresses>
DELETE { ?person foaf:givenName 'Bill' }
INSERT { ?person foaf:givenName 'William' }
WHERE {
    ?person foaf:givenName 'Bill'
}""", status='4xx'),
    ]),
]



@pytest.fixture(scope="module")
def w3c_server(tmp_path_factory: pytest.TempPathFactory, start_server: Any) -> Iterator[str]:
    """A server over the manifest's dataset: data1..3.nt as the named graphs they name."""
    root = tmp_path_factory.mktemp("w3c-build")
    builds = BuildDir(root)
    path = builds.new_build()
    store = pyoxigraph.Store(str(path / "store"))
    for n in (1, 2, 3):
        store.load(path=str(DATA / f"data{n}.nt"), format=pyoxigraph.RdfFormat.N_TRIPLES,
                   to_graph=pyoxigraph.NamedNode(f"{KASEI}data{n}.rdf"))
    store.flush()
    del store
    (path / "report.json").write_text(json.dumps({"build_id": path.name, "triples": 3,
                                                  "base": "http://example.org/"}))
    builds.publish(path)
    with start_server(root, workers=1) as base:
        yield base


def _send(http: Fetch, base: str, req: Req) -> tuple[int, dict[str, str], bytes]:
    body = req.body.encode(req.encoding) if req.body is not None else None
    query = f"?{urlencode(req.params)}" if req.params else ""
    return http(f"{base}/sparql{query}", method=req.method, data=body,
                headers={"Content-Type": req.ctype} if req.ctype else {})


def _boolean(content_type: str, body: bytes) -> bool:
    if "json" in content_type:
        return json.loads(body)["boolean"]
    root = ET.fromstring(body)
    return root.find("{http://www.w3.org/2005/sparql-results#}boolean").text == "true"


def _check_form(form: str, content_type: str, body: bytes) -> None:
    """The answer is of the expected kind, in a format the manifest's test name allows."""
    media_type = content_type.split(";")[0].strip()
    if form == "boolean":
        assert media_type in ("application/sparql-results+json",
                              "application/sparql-results+xml")
        _boolean(content_type, body)
    elif form == "tabular":
        assert media_type in ("application/sparql-results+json", "application/sparql-results+xml",
                              "text/csv", "text/tab-separated-values")
        if media_type == "application/sparql-results+json":
            assert json.loads(body)["head"]["vars"]
        elif media_type == "text/csv":
            assert next(csv.reader(io.StringIO(body.decode())))
    else:
        rdflib_format = {"application/rdf+xml": "xml", "text/turtle": "turtle",
                         "application/n-triples": "nt"}
        assert media_type in rdflib_format
        Graph().parse(data=body, format=rdflib_format[media_type])


def test_every_manifest_entry_is_expressed() -> None:
    from rdflib import Namespace
    from rdflib.collection import Collection

    mf = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
    graph = Graph().parse(DATA / "manifest.ttl", format="turtle")
    manifest = next(graph.subjects(predicate=mf.entries))
    entries = Collection(graph, graph.value(manifest, mf.entries))
    names = [str(e).rsplit("#", 1)[-1].rsplit("/", 1)[-1] for e in entries]
    assert names == [case.name for case in CASES]
    assert len(names) == 34


@pytest.mark.parametrize("case", [c for c in CASES if not c.refused_update],
                         ids=lambda c: c.name)
def test_protocol_case(http: Fetch, w3c_server: str, case: Case) -> None:
    for req in case.requests:
        status, headers, body = _send(http, w3c_server, req)
        if req.status == "4xx":
            assert 400 <= status < 500, (status, body)
            assert body.strip(), "an error says what went wrong"
            continue
        assert 200 <= status < 400, (status, body)
        if req.form:
            _check_form(req.form, headers["content-type"], body)
        if req.boolean is not None:
            assert _boolean(headers["content-type"], body) is req.boolean


@pytest.mark.parametrize("case", [c for c in CASES if c.refused_update],
                         ids=lambda c: c.name)
def test_update_case_is_refused(http: Fetch, w3c_server: str, case: Case) -> None:
    update, *checks = case.requests
    status, _, body = _send(http, w3c_server, update)
    assert status == 403
    assert b"read-only" in body
    for check in checks:  # what the update would have made is not there
        status, headers, body = _send(http, w3c_server, check)
        assert status == 200
        assert _boolean(headers["content-type"], body) is False
    still = Req("GET", [("query", f"ASK {{ GRAPH <{D1}> {{ ?s ?p ?o }} }}")])
    status, headers, body = _send(http, w3c_server, still)
    assert _boolean(headers["content-type"], body) is True


def test_service_description_returns_rdf_with_endpoint(http: Fetch, w3c_server: str) -> None:
    """The three W3C service-description tests: returns RDF, has a matching sd:endpoint."""
    for accept in ("*/*", "text/turtle", "application/rdf+xml"):
        status, headers, body = http(w3c_server + "/sparql", headers={"Accept": accept})
        assert status == 200
        fmt = "xml" if "rdf+xml" in headers["content-type"] else "turtle"
        graph = Graph().parse(data=body, format=fmt)
        sd = "http://www.w3.org/ns/sparql-service-description#"
        endpoint = w3c_server + "/sparql"
        assert graph.query(f"ASK {{ ?s <{sd}endpoint> <{endpoint}> ; a <{sd}Service> ; "
                           f"<{sd}supportedLanguage> <{sd}SPARQL11Query> }}").askAnswer
