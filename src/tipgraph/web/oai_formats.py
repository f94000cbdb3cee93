"""A publication's record in the formats harvesters ask for: ``oai_dc`` and
``oai_openaire`` (OpenAIRE Guidelines for Literature Repositories v4).

Each format is a function from what the record says (:class:`~tipgraph.serving.oai.
Metadata`, read by the read side) to an lxml element, registered in :data:`FORMATS`. The
XML is written with lxml: every value is a text node or an attribute value that lxml
escapes, never pasted into markup, and a value XML 1.0 cannot carry (a control
character) is left out of the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from tipgraph.serving.oai import Metadata

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
DC = "http://purl.org/dc/elements/1.1/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAIRE = "http://namespace.openaire.eu/schema/oaire/"
DATACITE = "http://datacite.org/schema/kernel-4"

#: COAR terms of what every record is: text (literature), of which the catalogue holds
#: the metadata only (the publications themselves are on their publishers' sites).
COAR_TEXT = "http://purl.org/coar/resource_type/c_18cf"
COAR_METADATA_ONLY = "http://purl.org/coar/access_right/c_14cb"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot carry.

    >>> xml_text("a\\x01b")
    'ab'
    """
    return _NOT_XML.sub("", value)


def _add(parent: etree._Element, tag: str, text: str | None = None,
         **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def oai_dc(meta: Metadata) -> etree._Element:
    """Simple Dublin Core, as OAI-PMH requires of every repository."""
    root = etree.Element(f"{{{OAI_DC}}}dc", nsmap={"oai_dc": OAI_DC, "dc": DC, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")
    dc = f"{{{DC}}}"
    if meta.title:
        _add(root, dc + "title", meta.title, **{XML_LANG: "en"})
    for name, _ in meta.creators:
        _add(root, dc + "creator", name)
    for subject in meta.subjects:
        _add(root, dc + "subject", subject)
    if meta.abstract:
        _add(root, dc + "description", meta.abstract, **{XML_LANG: "en"})
    if meta.year:
        _add(root, dc + "date", meta.year)
    _add(root, dc + "type", "Text")
    _add(root, dc + "identifier", meta.uri)
    if meta.citation:  # dcterms:bibliographicCitation refines dc:identifier
        _add(root, dc + "identifier", meta.citation)
    if meta.page:
        _add(root, dc + "relation", meta.page)
    if meta.part_of:
        _add(root, dc + "relation", meta.part_of)
    for place in meta.places:
        _add(root, dc + "coverage", place)
    return root


def oai_openaire(meta: Metadata) -> etree._Element:
    """The OpenAIRE Guidelines for Literature Repositories v4 (``oaire:resource``)."""
    nsmap = {"oaire": OAIRE, "datacite": DATACITE, "dc": DC, "xsi": XSI}
    root = etree.Element(f"{{{OAIRE}}}resource", nsmap=nsmap)
    root.set(f"{{{XSI}}}schemaLocation",
             f"{OAIRE} https://www.openaire.eu/schema/repo-lit/4.0/openaire.xsd")
    dc, datacite, oaire = f"{{{DC}}}", f"{{{DATACITE}}}", f"{{{OAIRE}}}"
    if meta.title:
        titles = _add(root, datacite + "titles")
        _add(titles, datacite + "title", meta.title, **{XML_LANG: "en"})
    if meta.creators:
        creators = _add(root, datacite + "creators")
        for name, kind in meta.creators:
            creator = _add(creators, datacite + "creator")
            _add(creator, datacite + "creatorName", name, nameType=kind)
    if meta.year:
        dates = _add(root, datacite + "dates")
        _add(dates, datacite + "date", meta.year, dateType="Issued")
    if meta.abstract:
        _add(root, dc + "description", meta.abstract, **{XML_LANG: "en"})
    _add(root, oaire + "resourceType", "text", resourceTypeGeneral="literature", uri=COAR_TEXT)
    _add(root, datacite + "identifier", meta.uri, identifierType="URL")
    if meta.page:
        alternates = _add(root, datacite + "alternateIdentifiers")
        _add(alternates, datacite + "alternateIdentifier", meta.page,
             alternateIdentifierType="URL")
    _add(root, datacite + "rights", "metadata only access", rightsURI=COAR_METADATA_ONLY)
    if meta.citation:
        _add(root, dc + "source", meta.citation)
    if meta.subjects:
        subjects = _add(root, datacite + "subjects")
        for subject in meta.subjects:
            _add(subjects, datacite + "subject", subject)
    for place in meta.places:
        _add(root, dc + "coverage", place)
    return root


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str
    write: Callable[[Metadata], etree._Element]


#: The formats every record is disseminated in, by metadataPrefix.
FORMATS: dict[str, MetadataFormat] = {f.prefix: f for f in (
    MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC, oai_dc),
    MetadataFormat("oai_openaire", "https://www.openaire.eu/schema/repo-lit/4.0/openaire.xsd",
                   OAIRE, oai_openaire),
)}
