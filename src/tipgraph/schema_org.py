"""schema.org JSON-LD for search engines: the dataset, and each resource's page.

Pages embed it in ``<script type="application/ld+json">``. The context is inline
(:data:`CONTEXT`): ``@vocab`` is ``https://schema.org/`` (the namespace our data
uses), and the properties whose values are links (``url``, ``sameAs``,
``license``, ``contentUrl``...) are typed ``@id``, so a JSON-LD processor reads
them as IRIs, not as strings, and nothing is fetched to read the context.

The dataset (home page and dataset page) follows Google's Dataset guidance:
name, description, url, identifier, license, creator and publisher,
``includedInDataCatalog`` (a ``DataCatalog``), ``distribution`` (a
``DataDownload`` per dump with ``encodingFormat`` and ``contentUrl``),
``spatialCoverage`` and ``temporalCoverage``; it is read from the dataset's
DCAT description (:mod:`tipgraph.description`), so both always agree. No Flask
here: the views pass the documents in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode

from tipgraph.description import DCAT, VOID
from tipgraph.namespaces import DCT, FOAF, SCHEMA, SKOS
from tipgraph.serving.documents import NODES, Document, label_of

#: The inline context of every schema.org description we write.
CONTEXT: dict[str, Any] = {
    "@vocab": str(SCHEMA),
    **{name: {"@type": "@id"} for name in (
        "url", "sameAs", "license", "contentUrl", "isBasedOn", "mainEntityOfPage")},
}

_N = {**NODES, **{name: NamedNode(str(term)) for name, term in {
    "title": DCT.title, "description": DCT.description,
    "identifier": DCT.identifier, "publisher": DCT.publisher, "license": DCT.license,
    "modified": DCT.modified, "temporal": DCT.temporal, "name": FOAF.name,
    "homepage": FOAF.homepage, "Dataset": DCAT.Dataset, "Catalog": DCAT.Catalog,
    "dataset": DCAT.dataset, "distribution": DCAT.distribution,
    "downloadURL": DCAT.downloadURL, "mediaType": DCAT.mediaType,
    "compressFormat": DCAT.compressFormat,
    "keyword": DCAT.keyword, "landingPage": DCAT.landingPage, "version": DCAT.version,
    "startDate": DCAT.startDate, "endDate": DCAT.endDate, "prefLabel": SKOS.prefLabel,
    "sparqlEndpoint": VOID.sparqlEndpoint,
}.items()}}
IANA = "https://www.iana.org/assignments/media-types/"


def _text(doc: Document, node: Any, prop: str) -> str | None:
    value = doc.value(node, _N[prop])
    return value.value if isinstance(value, Literal) else None


def _iris(values: Iterable[Any]) -> list[str]:
    return sorted(v.value for v in values if isinstance(v, NamedNode))


def _names(doc: Document, nodes: Iterable[Any], kind: str) -> list[dict[str, str]]:
    return [{"@type": kind, "@id": n.value, "name": label_of(doc, n) or n.value}
            for n in sorted((n for n in nodes if isinstance(n, NamedNode)),
                            key=lambda n: n.value)]


def _agent(doc: Document, node: Any) -> dict[str, str]:
    agent = {"@type": "Organization", "@id": node.value,
             "name": _text(doc, node, "name") or label_of(doc, node) or node.value}
    homepage = doc.value(node, _N["homepage"])
    if isinstance(homepage, NamedNode):
        agent["url"] = homepage.value
    return agent


def dataset_jsonld(doc: Document) -> dict[str, Any]:
    """The ``schema:Dataset`` (in its ``schema:DataCatalog``) of the dataset that ``doc``,
    its DCAT description, describes.

    :raises ValueError: when ``doc`` describes no ``dcat:Dataset``
    """
    ds = next((s for s in doc.subjects() if _N["Dataset"] in doc.objects(s, _N["type"])), None)
    if ds is None:
        raise ValueError(f"{doc.uri} describes no dcat:Dataset")
    data: dict[str, Any] = {
        "@context": CONTEXT, "@type": "Dataset", "@id": ds.value,
        "name": _text(doc, ds, "title"), "description": _text(doc, ds, "description"),
        "identifier": _text(doc, ds, "identifier"), "version": _text(doc, ds, "version"),
        "dateModified": _text(doc, ds, "modified"), "isAccessibleForFree": True,
        "inLanguage": "en",
    }
    landing = doc.value(ds, _N["landingPage"])
    if isinstance(landing, NamedNode):
        data["url"] = landing.value
    licences = _iris(doc.objects(ds, _N["license"]))
    if licences:
        data["license"] = licences[0]
    data["keywords"] = sorted((k.value for k in doc.objects(ds, _N["keyword"])
                               if isinstance(k, Literal)), key=str.casefold)
    publisher = doc.value(ds, _N["publisher"])
    if publisher is not None:
        data["publisher"] = _agent(doc, publisher)
    creator = doc.value(ds, _N["creator"]) or publisher
    if creator is not None:
        data["creator"] = _agent(doc, creator)
    catalog = next((s for s, p in doc.incoming(ds) if p == _N["dataset"]
                    and _N["Catalog"] in doc.objects(s, _N["type"])), None)
    if catalog is not None:
        home = doc.value(catalog, _N["homepage"])
        data["includedInDataCatalog"] = {
            "@type": "DataCatalog", "@id": catalog.value, "name": _text(doc, catalog, "title"),
            **({"url": home.value} if isinstance(home, NamedNode) else {})}
    downloads = []
    for dist in sorted(doc.objects(ds, _N["distribution"]), key=lambda d: d.value):
        url = doc.value(dist, _N["downloadURL"])
        media = doc.value(dist, _N["compressFormat"]) or doc.value(dist, _N["mediaType"])
        if not isinstance(url, NamedNode) or not isinstance(media, NamedNode):
            continue
        download: dict[str, Any] = {"@type": "DataDownload", "contentUrl": url.value,
                                    "encodingFormat": media.value.removeprefix(IANA),
                                    "name": _text(doc, dist, "title")}
        downloads.append(download)
    data["distribution"] = downloads
    data["spatialCoverage"] = [
        {"@type": "Place", "@id": p.value, "name": _text(doc, p, "prefLabel") or p.value}
        for p in sorted(doc.objects(ds, _N["spatial"]), key=lambda p: p.value)]
    period = doc.value(ds, _N["temporal"])
    if period is not None:
        start, end = _text(doc, period, "startDate"), _text(doc, period, "endDate")
        if start and end:
            data["temporalCoverage"] = f"{start}/{end}"
    return {k: v for k, v in data.items() if v not in ([], None, "")}


def resource_jsonld(doc: Document, node: NamedNode, page_url: str, base: str
                    ) -> dict[str, Any]:
    """The schema.org description of ``node`` that its page embeds for search engines."""
    types = set(doc.objects(node, _N["type"]))
    if _N["Dataset"] in types:
        return dataset_jsonld(doc)
    data: dict[str, Any] = {"@context": CONTEXT, "@id": node.value,
                            "url": page_url, "name": label_of(doc, node) or node.value}
    same = _iris(doc.objects(node, _N["sameAs"]))
    if _N["Publication"] in types or _N["EditedVolume"] in types:
        data["@type"] = "CreativeWork" if _N["Publication"] in types else "Book"
        _publication(doc, node, base, data)
        same += _iris(doc.objects(node, _N["url"]))  # the record's page at its source
    elif _N["Country"] in types:
        data["@type"] = "Country"
    elif _N["Region"] in types or _N["Feature"] in types:
        data["@type"] = "Place"
    elif _N["Organization"] in types:
        data["@type"] = "Organization"
        data["alternateName"] = sorted(v.value for v in doc.objects(node, _N["altLabel"]))
    elif _N["Person"] in types:
        data["@type"] = "Person"
    else:
        data["@type"] = "Thing"
    if same:
        data["sameAs"] = sorted(set(same))
    parent = doc.value(node, _N["parentFeature"])
    if parent is not None:
        data["containedInPlace"] = _names(doc, [parent], "Place")[0]
    return {k: v for k, v in data.items() if v not in ([], None, "")}


def _publication(doc: Document, node: NamedNode, base: str, data: dict[str, Any]) -> None:
    """A publication's (or edited volume's) properties: what Google reads of a work."""
    abstract = doc.value(node, _N["abstract"])
    if isinstance(abstract, Literal):
        data["abstract"] = data["description"] = abstract.value
    title = doc.value(node, _N["title"])
    languages = {v.language for v in (title, abstract) if isinstance(v, Literal) and v.language}
    if languages:
        data["inLanguage"] = sorted(languages)[0]
    identifiers = sorted(v.value for v in doc.objects(node, _N["identifier"])
                         if isinstance(v, Literal))
    if identifiers:
        data["identifier"] = identifiers[0] if len(identifiers) == 1 else identifiers
    year = doc.value(node, _N["issued"])
    if year is not None:
        data["datePublished"] = year.value
    authors = []
    organisations = []
    for agent in sorted((a for a in doc.objects(node, _N["creator"])
                         if isinstance(a, NamedNode)), key=lambda a: a.value):
        person = agent.value.startswith(base + "person/")
        named = _names(doc, [agent], "Person" if person else "Organization")
        authors += named
        if not person:
            organisations += named
    if authors:
        data["author"] = authors
    # the publisher the record names; else the organisations that wrote it (the catalogue
    # lists organisations' own publications); a record with neither says none
    publishers = _names(doc, doc.objects(node, _N["publisher"]), "Organization")
    if publishers or organisations:
        data["publisher"] = publishers or organisations
    places = _names(doc, doc.objects(node, _N["spatial"]), "Place")
    if places:
        data["spatialCoverage"] = places
    keywords = [label_of(doc, c) for c in doc.objects(node, _N["subject"])]
    if any(keywords):
        data["keywords"] = sorted(k for k in keywords if k)
    part = doc.value(node, _N["isPartOf"])
    if part is not None and not isinstance(part, BlankNode):
        data["isPartOf"] = _names(doc, [part], "Book")[0]
    based = _iris(doc.objects(node, _N["url"]))
    if based:
        data["isBasedOn"] = based
