"""Fuzzing the app with hypothesis: no answer is a 5xx but the designed timeout (503).

Random and mutated queries, Accept headers, paths and form bodies go to the
app through Flask's test client (the query processes are real). The budget is
bounded: about 200 examples in all, no deadline.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tipgraph.queries import shipped_queries
from tipgraph.web import create_app

BUDGET = settings(max_examples=50, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow,
                                         HealthCheck.function_scoped_fixture])
SHIPPED = [q.text for q in shipped_queries()]
WORDS = ["SELECT", "ASK", "CONSTRUCT", "DESCRIBE", "WHERE", "{", "}", "(", ")", "[", "]",
         "SERVICE", "<http://127.0.0.1:9/>", "FILTER", "OPTIONAL", "UNION", "GRAPH", "?s",
         "?p", "?o", "*", ".", ";", ",", '"x"', "'''", "#", "\x00", "\ufffd", "LIMIT 5",
         "PREFIX x: <http://x/>", "x:y", "BIND", "AS", "COUNT", "GROUP BY", "VALUES", "LOAD",
         "INSERT DATA", "CLEAR ALL", "\n", "\\", "%", "<", ">", "a", "1e999999", "REGEX"]
MEDIA = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv",
         "text/tab-separated-values", "text/turtle", "application/ld+json", "text/html",
         "application/n-triples", "application/rdf+xml", "*/*", "text/*", "image/png", ""]


@pytest.fixture(scope="module")
def client(seed_build_dir: Path):
    app = create_app({"build_dir": str(seed_build_dir), "query_timeout": 2,
                      "max_results": 100, "max_request_bytes": 20_000})
    yield app.test_client()
    from tipgraph.web.context import get_engine

    with app.app_context():
        get_engine().close()


def acceptable(response) -> bool:
    if response.status_code < 500:
        return True
    return response.status_code == 503 and b"stopped" in response.data


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(SHIPPED))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        how = draw(st.sampled_from(["cut", "insert", "duplicate", "word"]))
        if how == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif how == "insert":
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        elif how == "duplicate":
            text = text[:at] + text[at:at + 30] * draw(st.integers(2, 5)) + text[at:]
        else:
            text = text[:at] + " " + draw(st.sampled_from(WORDS)) + " " + text[at:]
    return text


queries = st.one_of(mutated(), st.text(max_size=200),
                    st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join))
accepts = st.one_of(
    st.lists(st.tuples(st.sampled_from(MEDIA), st.sampled_from(["", ";q=0.5", ";q=0", ";q=x",
                                                               ";q=1e9", ";level=1"])),
             max_size=5).map(lambda parts: ", ".join(m + q for m, q in parts)),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))


@BUDGET
@given(query=queries, how=st.sampled_from(["get", "form", "direct"]))
def test_random_and_mutated_queries(client, query, how) -> None:
    headers = {"Accept": "application/sparql-results+json, text/turtle;q=0.9"}
    if how == "get":
        response = client.get("/sparql", query_string={"query": query}, headers=headers)
    elif how == "form":
        response = client.post("/sparql", data={"query": query}, headers=headers)
    else:
        response = client.post("/sparql", data=query.encode("utf-8", "surrogatepass"),
                               headers={**headers, "Content-Type": "application/sparql-query"})
    assert acceptable(response), (response.status_code, response.data[:300])


@BUDGET
@given(accept=accepts, target=st.sampled_from([
    "/sparql?query=ASK%7B%7D", "/sparql?query=CONSTRUCT%20WHERE%7B%3Fs%20%3Fp%20%3Fo%7DLIMIT%205",
    "/sparql", "/place/ng", "/place/ng.ttl", "/dataset", "/", "/browse", "/ontology",
    "/dumps/tipgraph.ttl", "/sitemap.xml", "/query"]))
def test_accept_headers(client, accept, target) -> None:
    response = client.get(target, headers={"Accept": accept})
    assert acceptable(response), (target, accept, response.status_code)


SEGMENTS = ["place", "publication", "organisation", "person", "concept", "source", "ng",
            "dumps", "static", "ontology", "shapes", "dataset", "sparql", "browse", "..",
            "%2e%2e", "%2f", "%252f", ".ttl", ".html", ".jsonld", ".nt", ".rdf", "%00", "%ff",
            "tipgraph.ttl", "world", "#x", "?q=1", ";x", "~", ""]


@BUDGET
@given(parts=st.lists(st.one_of(st.sampled_from(SEGMENTS), st.text(max_size=6)), max_size=6),
       slash=st.booleans())
def test_paths(client, parts, slash) -> None:
    path = "/" + "/".join(quote(p, safe="%.#?;~=") if "%" not in p else p for p in parts)
    if slash:
        path += "/"
    response = client.get(path, headers={"Accept": "text/html"})
    assert acceptable(response), (path, response.status_code)


@BUDGET
@given(body=st.one_of(st.binary(max_size=300),
                      st.dictionaries(st.sampled_from(["query", "update", "format", "output",
                                                       "default-graph-uri", "named-graph-uri",
                                                       "results", "x"]),
                                      st.text(max_size=40), max_size=4)),
       kind=st.sampled_from(["application/x-www-form-urlencoded", "application/sparql-query",
                             "application/sparql-update", "multipart/form-data", "text/plain",
                             "application/x-www-form-urlencoded; charset=latin-1", ""]),
       target=st.sampled_from(["/sparql", "/browse", "/", "/place/ng"]))
def test_form_bodies(client, body, kind, target) -> None:
    data = body if isinstance(body, bytes) else "&".join(
        f"{quote(k)}={quote(v, safe='')}" for k, v in body.items()).encode()
    headers = {"Content-Type": kind} if kind else {}
    response = client.post(target, data=data, headers=headers)
    assert acceptable(response), (target, kind, data[:100], response.status_code)
