"""The dataset's description (VoID + DCAT), made from a build's counts, without Flask.

The description's counts are what a SPARQL count over the endpoint returns: the
build counts them from the triples it loads into the store and writes them in its
index file (:class:`~tipgraph.serving.indexes.DatasetCounts`); counting them over
the store instead takes 15 s at 100,000 publications, and is left for a remote
store and a build without the file (:attr:`Build.counts`). The views of
:mod:`tipgraph.web.dataset` serve it, with the dumps it lists.
"""

from __future__ import annotations

from rdflib import BNode, Graph, Literal, URIRef

from tipgraph.dumps import DUMPS
from tipgraph.namespaces import DCAT, DCT, PREFIXES, RDF, RDFS, VOID, XSD, bind_prefixes
from tipgraph.serving.documents import Document, from_rdflib
from tipgraph.serving.indexes import DatasetCounts
from tipgraph.serving.service import Build

IANA = "https://www.iana.org/assignments/media-types/"
#: What the OAI-PMH data provider at ``/oai`` conforms to.
OAI_PMH = "http://www.openarchives.org/OAI/2.0/openarchivesprotocol.htm"


def dataset_uri(build: Build) -> URIRef:
    return URIRef(build.base + "dataset")


def description(build: Build, root: str) -> Document:
    """The description of ``build`` with its services under ``root``, made once per root."""
    return build.description(root, lambda: from_rdflib(describe_dataset(build, root),
                                                       str(dataset_uri(build))))


def describe_dataset(build: Build, root: str, counts: DatasetCounts | None = None) -> Graph:
    """VoID and DCAT for ``build``, with its services and dumps under ``root``; its counts
    are ``counts`` (by default :func:`dataset_counts`)."""
    if counts is None:
        counts = build.counts
    base = build.base
    settings = build.settings
    graph = bind_prefixes(Graph(), base)
    graph.bind("void", VOID)
    graph.bind("dcat", DCAT)
    ds = dataset_uri(build)
    add = graph.add
    for kind in (VOID.Dataset, DCAT.Dataset):
        add((ds, RDF.type, kind))
    add((ds, DCT.title, Literal("tipgraph: publications on trafficking in persons", lang="en")))
    add((ds, DCT.description, Literal(
        "A catalogue of publications on trafficking in persons (IOM's counter-trafficking "
        "resource catalogue), linked to the countries and IOM regions they are about, their "
        "authors and organisations.", lang="en")))
    add((ds, DCT.license, URIRef(settings["license"])))
    rights = BNode()
    add((ds, DCT.rights, rights))
    add((rights, RDF.type, DCT.RightsStatement))
    add((rights, RDFS.label, Literal(settings["rights"], lang="en")))
    add((ds, DCT.modified, Literal(build.modified.isoformat().replace("+00:00", "Z"),
                                   datatype=XSD.dateTime)))
    add((ds, DCT.identifier, Literal(build.id)))
    add((ds, VOID.uriSpace, Literal(base)))
    add((ds, VOID.sparqlEndpoint, URIRef(root + "sparql")))
    add((ds, VOID.triples, _literal(counts.triples)))
    add((ds, VOID.entities, _literal(counts.entities)))
    add((ds, VOID.distinctSubjects, _literal(counts.distinct_subjects)))
    add((ds, VOID.distinctObjects, _literal(counts.distinct_objects)))
    for cls, n in counts.classes.items():
        part = BNode()
        add((ds, VOID.classPartition, part))
        add((part, VOID["class"], URIRef(cls)))
        add((part, VOID.entities, _literal(n)))
    add((ds, VOID.classes, _literal(len(counts.classes))))
    for prop, n in counts.properties.items():
        part = BNode()
        add((ds, VOID.propertyPartition, part))
        add((part, VOID.property, URIRef(prop)))
        add((part, VOID.triples, _literal(n)))
    add((ds, VOID.properties, _literal(len(counts.properties))))
    used = {*counts.classes, *counts.properties}
    for prefix, namespace in sorted(PREFIXES.items()):
        if prefix not in ("rdf", "xsd") and any(term.startswith(namespace) for term in used):
            add((ds, VOID.vocabulary, URIRef(namespace)))
    if counts.example is not None:
        add((ds, VOID.exampleResource, URIRef(counts.example)))
    _distributions(graph, build, ds, root)
    catalog = URIRef(f"{ds}#catalog")
    add((catalog, RDF.type, DCAT.Catalog))
    add((catalog, DCT.title, Literal("tipgraph", lang="en")))
    add((catalog, DCAT.dataset, ds))
    add((catalog, DCT.license, URIRef(settings["license"])))
    add((catalog, DCT.modified, graph.value(ds, DCT.modified)))
    add((catalog, DCAT.service, URIRef(f"{ds}#sparql")))
    add((catalog, DCAT.service, URIRef(f"{ds}#oai-pmh")))
    return graph


def _distributions(graph: Graph, build: Build, ds: URIRef, root: str) -> None:
    add = graph.add
    for name, (media_type, compression) in DUMPS.items():
        path = build.file(name)
        if not path.is_file():
            continue
        url = URIRef(root + "dumps/" + name)
        dist = URIRef(f"{ds}#dump-{name.removeprefix('tipgraph.').replace('.', '-')}")
        add((ds, VOID.dataDump, url))
        add((ds, DCAT.distribution, dist))
        add((dist, RDF.type, DCAT.Distribution))
        add((dist, DCT.title, Literal(f"{name}: the whole graph", lang="en")))
        add((dist, DCAT.downloadURL, url))
        add((dist, DCAT.accessURL, url))
        add((dist, DCAT.mediaType, URIRef(IANA + media_type)))
        add((dist, DCAT.byteSize, Literal(path.stat().st_size, datatype=XSD.nonNegativeInteger)))
        if compression:
            add((dist, DCAT.compressFormat, URIRef(IANA + compression)))
        add((dist, DCT.modified, graph.value(ds, DCT.modified)))
    service = URIRef(f"{ds}#sparql")
    add((service, RDF.type, DCAT.DataService))
    add((service, DCT.title, Literal("SPARQL 1.1 endpoint", lang="en")))
    add((service, DCAT.endpointURL, URIRef(root + "sparql")))
    add((service, DCT.conformsTo, URIRef("https://www.w3.org/TR/sparql11-protocol/")))
    add((service, DCAT.servesDataset, ds))
    dist = URIRef(f"{ds}#sparql-distribution")
    add((ds, DCAT.distribution, dist))
    add((dist, RDF.type, DCAT.Distribution))
    add((dist, DCAT.accessURL, URIRef(root + "sparql")))
    add((dist, DCAT.accessService, service))
    # the publications' records for the aggregators that harvest OAI-PMH (web/oai.py)
    oai = URIRef(f"{ds}#oai-pmh")
    add((oai, RDF.type, DCAT.DataService))
    add((oai, DCT.title, Literal("OAI-PMH 2.0 data provider (oai_dc, oai_openaire)", lang="en")))
    add((oai, DCAT.endpointURL, URIRef(root + "oai")))
    add((oai, DCAT.endpointDescription, URIRef(root + "oai?verb=Identify")))
    add((oai, DCT.conformsTo, URIRef(OAI_PMH)))
    add((oai, DCAT.servesDataset, ds))
    dist = URIRef(f"{ds}#oai-pmh-distribution")
    add((ds, DCAT.distribution, dist))
    add((dist, RDF.type, DCAT.Distribution))
    add((dist, DCAT.accessURL, URIRef(root + "oai")))
    add((dist, DCAT.accessService, oai))


def _literal(n: int) -> Literal:
    return Literal(n, datatype=XSD.integer)
