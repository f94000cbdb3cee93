"""The six verbs of OAI-PMH 2.0, from a request's arguments to the response's XML.

No HTTP here: :func:`respond` takes the arguments (as a multi-dict: a repeated argument
is an error), the repository of the build in service and a reader of metadata, and
returns the bytes of the ``OAI-PMH`` document; errors are the protocol's own
(``<error code="...">`` with a sentence that says what to do), never HTTP statuses.

Why lxml rather than pyoai's server: pyoai pages lists by offset and has no way to
resume after a key, which is what keeps a ``resumptionToken`` right across a build
switch; it is also quiet since 2022. lxml writes the XML (escaping every value) and
is what the tests validate the answers with.

Resumption tokens are not stored anywhere: a token is the request's arguments, the key
(datestamp, identifier) of the last record sent and the count sent so far, encoded
(base64url JSON). A list is given an ``until`` no later than the last switch when it
began (switch times only increase), so a record changed by a build that switches during
the harvest is not in this list, and never twice in it, but in the next incremental
harvest's (``from`` = this harvest's ``responseDate``): its datestamp is that switch's
time. Tokens therefore stay valid across builds and workers; one that does not decode,
or names another repository, is a ``badResumptionToken``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from tipgraph.serving.oai import Entry, Metadata, Repository
from tipgraph.web.oai_formats import FORMATS, XSI, xml_text

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_IDENTIFIER = "http://www.openarchives.org/OAI/2.0/oai-identifier"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
#: Arguments of each verb: (required, optional); ``resumptionToken`` is exclusive.
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset()),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"})),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"})),
}
#: The method of :class:`Request` answering each verb.
_METHODS = {"Identify": "_identify", "ListMetadataFormats": "_list_metadata_formats",
            "ListSets": "_list_sets", "GetRecord": "_get_record",
            "ListIdentifiers": "_list_identifiers", "ListRecords": "_list_records"}
_LISTS = ("ListIdentifiers", "ListRecords", "ListSets")
#: What the values of these arguments may be (OAI-PMH.xsd: identifierType, an absolute
#: URI; metadataPrefixType; setSpecType); another value is a badArgument.
_SYNTAX = {"identifier": re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[^%\s]|%[0-9A-Fa-f]{2})*"),
           "metadataPrefix": re.compile(r"[A-Za-z0-9\-_.!~*'()]+"),
           "set": re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")

ReadMetadata = Callable[[list[str]], Mapping[str, Metadata]]


@dataclass(frozen=True)
class Identity:
    """What Identify says of the repository (from the settings)."""

    name: str
    base_url: str
    admin_emails: tuple[str, ...]


class OaiError(Exception):
    """An OAI-PMH error condition: its code and a sentence for the harvester's log."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def stamp(seconds: int) -> str:
    """A datestamp as OAI-PMH writes it, to the second in UTC.

    >>> stamp(0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(text: str, *, end: bool) -> tuple[int, str]:
    """A ``from`` or ``until`` value as seconds since the epoch, and its granularity; a
    day stands for its first second (``from``) or its last (``until``, ``end``).

    :raises OaiError: badArgument, for anything else
    """
    try:
        if _SECOND.fullmatch(text):
            moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return int(moment.timestamp()), "second"
        if _DAY.fullmatch(text):
            moment = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return int(moment.timestamp()) + (86399 if end else 0), "day"
    except ValueError:
        pass
    raise OaiError("badArgument", f"{text!r} is not a date this repository understands: "
                   f"give YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (UTC)")


def encode_token(fields: Mapping[str, object]) -> str:
    text = json.dumps(fields, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_token(token: str, verb: str, repository_id: str) -> dict[str, object]:
    """The fields of a token this repository issued for ``verb``.

    :raises OaiError: badResumptionToken, saying why
    """
    try:
        padded = token + "=" * (-len(token) % 4)
        fields = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(fields, dict):
            raise ValueError(token)
    except (ValueError, UnicodeError, binascii.Error):
        raise OaiError("badResumptionToken", "this resumptionToken was not issued by this "
                       "repository or was cut: start the list again without it") from None
    if fields.get("r") != repository_id:
        raise OaiError("badResumptionToken", f"this resumptionToken was issued by the "
                       f"repository {fields.get('r')!r}, not {repository_id!r}: start the "
                       "list again without it")
    if fields.get("v") != verb:
        raise OaiError("badResumptionToken", f"this resumptionToken continues a "
                       f"{fields.get('v')} list, not a {verb} list")
    required = {"m": str, "c": int, "d": int, "i": str, "u": int}
    if any(not isinstance(fields.get(k), kind) for k, kind in required.items()) \
            or fields["m"] not in FORMATS:
        raise OaiError("badResumptionToken", "this resumptionToken lacks what the list "
                       "needs to go on: start the list again without it")
    return fields


class Request:
    """One OAI-PMH request being answered."""

    def __init__(self, arguments: Mapping[str, Sequence[str]], repository: Repository,
                 identity: Identity, read: ReadMetadata, *, now: datetime,
                 page_size: int) -> None:
        self.arguments = arguments
        self.repository = repository
        self.identity = identity
        self.read = read
        self.now = int(now.timestamp())
        self.page_size = max(1, page_size)
        self.root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={None: OAI, "xsi": XSI})
        self.root.set(f"{{{XSI}}}schemaLocation", f"{OAI} {OAI_SCHEMA}")
        etree.SubElement(self.root, f"{{{OAI}}}responseDate").text = stamp(self.now)
        self.request = etree.SubElement(self.root, f"{{{OAI}}}request")
        self.request.text = identity.base_url

    def answer(self) -> bytes:
        try:
            verb, args = self._checked()
            for name, value in args.items():
                self.request.set(name, xml_text(value))
            self.request.set("verb", verb)
            getattr(self, _METHODS[verb])(args)
        except OaiError as error:
            if error.code in ("badVerb", "badArgument"):
                self.request.attrib.clear()  # the spec: the base URL only
            for element in self.root[2:]:
                self.root.remove(element)
            node = etree.SubElement(self.root, f"{{{OAI}}}error", code=error.code)
            node.text = xml_text(error.message)
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8")

    def _checked(self) -> tuple[str, dict[str, str]]:
        """The verb and its arguments, once each; OaiError for what the spec forbids."""
        verbs = list(self.arguments.get("verb", ()))
        if len(verbs) != 1:
            raise OaiError("badVerb", "no verb given: say verb=Identify, ListMetadataFormats, "
                           "ListSets, ListIdentifiers, ListRecords or GetRecord"
                           if not verbs else "the verb is given more than once")
        verb = verbs[0]
        if verb not in VERBS:
            raise OaiError("badVerb", f"{verb!r} is not an OAI-PMH verb: say Identify, "
                           "ListMetadataFormats, ListSets, ListIdentifiers, ListRecords or "
                           "GetRecord")
        required, optional = VERBS[verb]
        args: dict[str, str] = {}
        for name, values in self.arguments.items():
            if name == "verb":
                continue
            token = name == "resumptionToken" and verb in _LISTS
            if not token and name not in required | optional:
                raise OaiError("badArgument", f"{verb} takes no argument {name!r}")
            if len(values) != 1:
                raise OaiError("badArgument", f"the argument {name!r} is given more than once")
            args[name] = values[0]
        if "resumptionToken" in args:
            if len(args) > 1:
                raise OaiError("badArgument", "resumptionToken is an exclusive argument: "
                               "give it alone, with the verb")
            return verb, args
        missing = sorted(required - set(args))
        if missing:
            raise OaiError("badArgument", f"{verb} needs the argument {missing[0]!r}")
        for name, syntax in _SYNTAX.items():
            if name in args and not syntax.fullmatch(args[name]):
                raise OaiError("badArgument", f"{args[name]!r} cannot be a {name}")
        for name in ("from", "until"):  # every argument is checked before it is used
            if name in args:
                parse_date(args[name], end=name == "until")
        return verb, args

    # -- the verbs ---------------------------------------------------------------------

    def _identify(self, args: dict[str, str]) -> None:
        node = etree.SubElement(self.root, f"{{{OAI}}}Identify")
        repository = self.repository
        for tag, text in (("repositoryName", self.identity.name),
                          ("baseURL", self.identity.base_url), ("protocolVersion", "2.0"),
                          *(("adminEmail", e) for e in self.identity.admin_emails),
                          ("earliestDatestamp", stamp(repository.earliest)),
                          ("deletedRecord", "persistent"), ("granularity", GRANULARITY)):
            etree.SubElement(node, f"{{{OAI}}}{tag}").text = text
        description = etree.SubElement(node, f"{{{OAI}}}description")
        ident = etree.SubElement(description, f"{{{OAI_IDENTIFIER}}}oai-identifier",
                                 nsmap={None: OAI_IDENTIFIER, "xsi": XSI})
        ident.set(f"{{{XSI}}}schemaLocation",
                  f"{OAI_IDENTIFIER} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd")
        sample = repository.entries[0].identifier if repository.entries \
            else f"{repository.prefix}example"
        for tag, text in (("scheme", "oai"), ("repositoryIdentifier", repository.repository_id),
                          ("delimiter", ":"), ("sampleIdentifier", sample)):
            etree.SubElement(ident, f"{{{OAI_IDENTIFIER}}}{tag}").text = text

    def _list_metadata_formats(self, args: dict[str, str]) -> None:
        if "identifier" in args:
            self._entry(args["identifier"])  # every record is in every format
        node = etree.SubElement(self.root, f"{{{OAI}}}ListMetadataFormats")
        for fmt in FORMATS.values():
            item = etree.SubElement(node, f"{{{OAI}}}metadataFormat")
            for tag, text in (("metadataPrefix", fmt.prefix), ("schema", fmt.schema),
                              ("metadataNamespace", fmt.namespace)):
                etree.SubElement(item, f"{{{OAI}}}{tag}").text = text

    def _list_sets(self, args: dict[str, str]) -> None:
        if "resumptionToken" in args:  # every set is in the first answer
            raise OaiError("badResumptionToken", "ListSets answers in one response: this "
                           "repository issued no resumptionToken for it")
        node = etree.SubElement(self.root, f"{{{OAI}}}ListSets")
        for spec, name in self.repository.sets.items():
            item = etree.SubElement(node, f"{{{OAI}}}set")
            etree.SubElement(item, f"{{{OAI}}}setSpec").text = spec
            etree.SubElement(item, f"{{{OAI}}}setName").text = name

    def _get_record(self, args: dict[str, str]) -> None:
        fmt = self._format(args["metadataPrefix"])
        entry = self._entry(args["identifier"])
        node = etree.SubElement(self.root, f"{{{OAI}}}GetRecord")
        self._records(node, [entry], fmt)

    def _list_identifiers(self, args: dict[str, str]) -> None:
        self._list("ListIdentifiers", args)

    def _list_records(self, args: dict[str, str]) -> None:
        self._list("ListRecords", args)

    # -- helpers -----------------------------------------------------------------------

    def _format(self, prefix: str) -> str:
        if prefix not in FORMATS:
            raise OaiError("cannotDisseminateFormat", f"{prefix!r} is not a metadata format "
                           f"of this repository: ask for {' or '.join(FORMATS)}")
        return prefix

    def _entry(self, identifier: str) -> Entry:
        entry = self.repository.entry(identifier)
        if entry is None:
            raise OaiError("idDoesNotExist", f"{identifier!r} is not the identifier of a "
                           f"record of this repository (they read "
                           f"{self.repository.prefix}<slug>)")
        return entry

    def _list(self, verb: str, args: dict[str, str]) -> None:
        if "resumptionToken" in args:
            fields = decode_token(args["resumptionToken"], verb,
                                  self.repository.repository_id)
            prefix = str(fields["m"])
            start = fields.get("f")
            until = int(fields["u"])  # type: ignore[arg-type]
            set_spec = fields.get("s")
            after: tuple[int, str] | None = (int(fields["d"]),  # type: ignore[arg-type]
                                             str(fields["i"]))
            cursor = int(fields["c"])  # type: ignore[arg-type]
        else:
            prefix = self._format(args["metadataPrefix"])
            start, until, set_spec = self._window(args)
            after, cursor = None, 0
        if after is None and set_spec is not None and set_spec not in self.repository.sets:
            raise OaiError("noRecordsMatch", f"the set {set_spec!r} has no records (see "
                           "ListSets for the sets of this repository)")
        selection = self.repository.select(
            start=start if isinstance(start, int) else None, until=until,
            set_spec=set_spec if isinstance(set_spec, str) else None, after=after,
            count=self.page_size)
        if not selection.entries:
            if after is None:
                raise OaiError("noRecordsMatch", "no record matches these arguments")
            # a list holds one item at least: every record left in it changed since
            raise OaiError("noRecordsMatch", "the records left in this list were changed by "
                           "a build switched in since it began: harvest from "
                           f"{stamp(until)} to get them")
        node = etree.SubElement(self.root, f"{{{OAI}}}{verb}")
        if verb == "ListRecords":
            self._records(node, selection.entries, prefix)
        else:
            for entry in selection.entries:
                self._header(node, entry)
        token = etree.SubElement(node, f"{{{OAI}}}resumptionToken",
                                 completeListSize=str(cursor + selection.remaining),
                                 cursor=str(cursor))
        if selection.remaining > len(selection.entries):
            last = selection.entries[-1]
            token.text = encode_token({
                "v": verb, "r": self.repository.repository_id, "m": prefix, "f": start,
                "u": until, "s": set_spec, "d": last.datestamp, "i": last.identifier,
                "c": cursor + len(selection.entries)})
        elif cursor == 0:  # a complete list in one response carries no token
            node.remove(token)

    def _window(self, args: dict[str, str]) -> tuple[int | None, int, str | None]:
        """``from``, ``until`` (the time of this first page when not given; never after the
        last switch) and ``set``."""
        start = until = None
        granularities = set()
        if "from" in args:
            start, granularity = parse_date(args["from"], end=False)
            granularities.add(granularity)
        if "until" in args:
            until, granularity = parse_date(args["until"], end=True)
            granularities.add(granularity)
        if len(granularities) > 1:
            raise OaiError("badArgument", "from and until have different granularities: give "
                           "both as days or both to the second")
        if start is not None and until is not None and start > until:
            raise OaiError("badArgument", "from is later than until")
        # the list holds what was published when it began: the records a build switched in
        # later change (datestamps after the last switch's) are in the next harvest
        frozen = self.now if until is None else until
        if self.repository.switched_at:
            frozen = min(frozen, self.repository.switched_at)
        return start, frozen, args.get("set")

    def _header(self, parent: etree._Element, entry: Entry) -> None:
        header = etree.SubElement(parent, f"{{{OAI}}}header")
        if entry.deleted:
            header.set("status", "deleted")
        etree.SubElement(header, f"{{{OAI}}}identifier").text = entry.identifier
        etree.SubElement(header, f"{{{OAI}}}datestamp").text = stamp(entry.datestamp)
        for spec in entry.sets:
            etree.SubElement(header, f"{{{OAI}}}setSpec").text = spec

    def _records(self, parent: etree._Element, entries: Iterable[Entry], prefix: str) -> None:
        entries = list(entries)
        uri = self.repository.uri
        found = self.read([uri(e) for e in entries if not e.deleted])
        write = FORMATS[prefix].write
        for entry in entries:
            record = etree.SubElement(parent, f"{{{OAI}}}record")
            self._header(record, entry)
            meta = found.get(uri(entry))
            if entry.deleted:
                continue
            metadata = etree.SubElement(record, f"{{{OAI}}}metadata")
            metadata.append(write(meta or Metadata(uri(entry))))


def respond(arguments: Mapping[str, Sequence[str]], repository: Repository,
            identity: Identity, read: ReadMetadata, *, now: datetime | None = None,
            page_size: int = 100) -> bytes:
    """The OAI-PMH response to ``arguments`` (name -> every value given), as UTF-8 XML."""
    return Request(arguments, repository, identity, read, now=now or datetime.now(UTC),
                   page_size=page_size).answer()
