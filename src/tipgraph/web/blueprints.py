"""Every blueprint of the site, in registration order (one module per area)."""

from __future__ import annotations

from flask import Blueprint

from tipgraph.web import dataset, exports, pages, resources, site, sparql

ALL: list[Blueprint] = [sparql.bp, pages.bp, resources.bp, dataset.bp, site.bp, exports.bp]
