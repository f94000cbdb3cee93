"""Fixtures of the OAI-PMH tests: the schemas every answer is validated with, offline.

``oai_valid(body)`` parses an answer and validates it with lxml against OAI-PMH 2.0 and
the schema of the metadata it carries (``oai_dc`` with Simple DC, or the OpenAIRE
Guidelines v4); it fails the test with the validator's messages. The schemas are the
files of ``tests/data/oai`` (see its README for their sources and licences): a resolver
maps every ``schemaLocation`` to the file of that name there, and the parser refuses the
network.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "oai"
OAI = "http://www.openarchives.org/OAI/2.0/"
OAIRE = "http://namespace.openaire.eu/schema/oaire/"
NS = {"oai": OAI, "oaire": OAIRE, "dc": "http://purl.org/dc/elements/1.1/",
      "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
      "datacite": "http://datacite.org/schema/kernel-4"}


class _LocalSchemas(etree.Resolver):
    """Every schema from ``tests/data/oai``, by file name; anything else is an error."""

    def resolve(self, url: str, pubid: str, context: object) -> object:
        name = url.rsplit("/", 1)[-1]
        for candidate in (SCHEMAS / name, SCHEMAS / "openaire" / name):
            if candidate.is_file():
                return self.resolve_filename(str(candidate), context)
        raise OSError(f"schema {url} is not in {SCHEMAS}: the tests do not fetch it")


def _schema(imports: dict[str, str]) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalSchemas())
    lines = "".join(f'<xs:import namespace="{ns}" schemaLocation="{location}"/>'
                    for ns, location in imports.items())
    driver = (f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
              f'targetNamespace="urn:tipgraph:tests">{lines}</xs:schema>')
    document = etree.fromstring(driver.encode(), parser,
                                base_url=str(SCHEMAS / "driver.xsd"))
    return etree.XMLSchema(document)


_COMMON = {"http://www.w3.org/XML/1998/namespace": "xml.xsd",
           OAI: "OAI-PMH.xsd",
           "http://www.openarchives.org/OAI/2.0/oai-identifier": "oai-identifier.xsd"}


@pytest.fixture(scope="session")
def oai_schemas() -> dict[str, etree.XMLSchema]:
    """The two schema sets (one per Dublin Core schema): ``oai_dc`` and ``oai_openaire``;
    ``openaire`` alone validates a bare ``oaire:resource``."""
    return {
        "oai_dc": _schema({**_COMMON, "http://www.openarchives.org/OAI/2.0/oai_dc/":
                           "oai_dc.xsd"}),
        "oai_openaire": _schema({**_COMMON, OAIRE: "openaire/openaire.xsd"}),
        "openaire": _schema({"http://www.w3.org/XML/1998/namespace": "xml.xsd",
                             OAIRE: "openaire/openaire.xsd"}),
    }


@pytest.fixture(scope="session")
def oai_valid(oai_schemas: dict[str, etree.XMLSchema]) -> Callable[[bytes], etree._Element]:
    """Parses an OAI-PMH answer, fails unless it is valid, returns its root."""
    def check(body: bytes) -> etree._Element:
        root = etree.fromstring(body, etree.XMLParser(no_network=True))
        openaire = root.find(".//oaire:resource", NS) is not None
        schema = oai_schemas["oai_openaire" if openaire else "oai_dc"]
        if not schema.validate(root):
            pytest.fail(f"invalid OAI-PMH answer: {schema.error_log}\n{body[:2000]!r}")
        for resource in root.iterfind(".//oaire:resource", NS):
            alone = oai_schemas["openaire"]
            if not alone.validate(etree.ElementTree(resource)):
                pytest.fail(f"invalid oai_openaire record: {alone.error_log}")
        return root
    return check


def next_second() -> None:
    """Wait until the clock is in a new second: datestamps are to the second, so a
    harvest after a switch has a later ``responseDate`` than the switch only then."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.05)


@pytest.fixture(scope="session")
def wait_next_second() -> Callable[[], None]:
    return next_second
