"""Every blueprint of the site, in registration order (one module per area)."""

from __future__ import annotations

from flask import Blueprint

ALL: list[Blueprint] = []
