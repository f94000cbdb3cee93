"""OAI-PMH 2.0: the publications harvested by the aggregators of publications.

Flask-free, in three layers like the rest of tipgraph:

- the build writes, per build, what the protocol needs of each publication (its content
  hash and its sets): :mod:`tipgraph.oai.records`;
- every switch of the current build (a new build, a rollback) turns the hashes into
  datestamps, kept beside the ledger outside ``builds/``: :mod:`tipgraph.oai.datestamps`;
- the read side serves a build's records by datestamp and set
  (:mod:`tipgraph.oai.repository`), their metadata in ``oai_dc`` and ``oai_openaire``
  (:mod:`tipgraph.oai.metadata`) and the six verbs (:mod:`tipgraph.oai.protocol`);
  ``tipgraph.web.oai`` only speaks HTTP.
"""
