"""Where the graph is served from: one interface, two stores.

:class:`GraphStore` is everything the web app, the client and the ``query``
command need of a store; :class:`OxigraphStore` is a build's own embedded
store, :class:`RemoteSparqlStore` an existing SPARQL 1.1 engine (Virtuoso,
Fuseki, QLever, the Oxigraph server, ...) reached over the standard protocols.
:func:`publish` pushes a build into such an engine.
"""

from tipgraph.store.embedded import OxigraphStore, load_store, open_store
from tipgraph.store.interface import GraphStore, QueryResult
from tipgraph.store.publish import META_GRAPH_NAME, PublishReport, current_graph, publish
from tipgraph.store.remote import RemoteSparqlStore

__all__ = ["META_GRAPH_NAME", "GraphStore", "OxigraphStore", "PublishReport", "QueryResult",
           "RemoteSparqlStore", "current_graph", "load_store", "open_store", "publish"]
