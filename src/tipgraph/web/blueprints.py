"""Every blueprint of the site, in registration order (one module per area)."""

from __future__ import annotations

from flask import Blueprint

from tipgraph.web import dataset, pages, resources

ALL: list[Blueprint] = [pages.bp, resources.bp, dataset.bp]
