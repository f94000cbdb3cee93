"""Where the graph is served from: one interface, two stores.

:class:`GraphStore` is everything the web app, the client and the ``query``
command need of a store; :class:`OxigraphStore` is a build's own embedded
store, :class:`RemoteSparqlStore` an existing SPARQL 1.1 engine (Virtuoso,
Fuseki, QLever, the Oxigraph server, ...) reached over the standard protocols.
:func:`open_store` chooses between them, once, from the settings; :func:`publish`
pushes a build into such an engine.
"""

from tipgraph.store.embedded import OxigraphStore, load_store
from tipgraph.store.interface import GraphStore, QueryResult
from tipgraph.store.opening import BuildSource, StoredBuild, open_store
from tipgraph.store.publish import META_GRAPH_NAME, PublishReport, current_graph, publish
from tipgraph.store.remote import RemoteSparqlStore

__all__ = ["META_GRAPH_NAME", "BuildSource", "GraphStore", "OxigraphStore", "PublishReport",
           "QueryResult", "RemoteSparqlStore", "StoredBuild", "current_graph", "load_store",
           "open_store", "publish"]
