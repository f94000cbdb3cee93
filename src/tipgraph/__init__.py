"""tipgraph: a catalogue of publications on trafficking in persons as linked data.

The pipeline runs read -> reconcile -> map -> reason -> validate -> load -> serve;
each stage is one module, wired together by :mod:`tipgraph.build`.
"""

__version__ = "0.1.0"
