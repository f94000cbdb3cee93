"""Text search inside SPARQL: ``?x tip:matches "forced labour"``, answered from the
build's text index before the engine joins the rest of the query.

A tipgraph extension (Jena has ``text:query``, Virtuoso ``bif:contains``, QLever
``ql:contains-word``; Oxigraph none)::

    PREFIX tip: <https://w3id.org/tipgraph/ontology#>
    SELECT ?pub ?score WHERE {
      ?pub tip:matches "forced labour" ;        # the search language of the browse page
           tip:matchScore ?score ;              # optional: bm25, higher is better
           dct:spatial <https://w3id.org/tipgraph/place/ng> .
    } ORDER BY DESC(?score)

``tip:matches`` holds between a node (a publication, place, organisation,
person ...) and a search (:mod:`tipgraph.serving.textindex` says the language: words,
prefixes, ``"phrases"``, ``AND``/``OR``/``NOT``) its title, abstract, names or
labels match, accents and case folded. ``tip:matchScore`` binds the match's
score; its node must have one ``tip:matches``.

How: :func:`rewrite` finds those triple patterns in the query's tokens
(:func:`tipgraph.queries.tokens`: comments, strings and IRIs are never mistaken
for them), asks the index, and puts a ``VALUES`` block of the hits (with their scores,
in a subquery of its own: :func:`_values` says why)
right after the triples sentence the pattern was part of, in the same group (a
sentence is a join of its patterns), so the query means what it said; the
engine then joins the rest. The search must be a literal (a
variable bound elsewhere cannot be looked up first); its subject a variable
or an IRI. A store without the index (``serve --store URL``) refuses such a
query with a 400 that says so.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from tipgraph.namespaces import TIP
from tipgraph.queries import tokens
from tipgraph.serving.textindex import TextIndex, TextQueryError
from tipgraph.sparql_engine import QueryJob

MATCHES = str(TIP["matches"])
MATCH_SCORE = str(TIP["matchScore"])
_MENTION = re.compile(r"matches|matchScore")
_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'",
            "\\": "\\"}
_TERM_KINDS = ("var", "iri", "word")
Token = tuple[str, str, int]


@dataclass
class _Search:
    """One ``tip:matches`` or ``tip:matchScore`` of a sentence."""

    property: str
    obj: str  # the search (unescaped), or the score's variable


@dataclass
class _Sentence:
    """A triples sentence (a subject and its predicate-object list) with text searches."""

    start: int  # where its text begins and ends (the "." after it stays)
    end: int
    subject: str  # its text: ?pub, <iri>, ex:pub
    subject_iri: str | None  # the IRI a constant subject names
    kept: list[str]  # the text of its other predicate-object pairs
    searches: list[_Search]


def uses_text_search(query: str) -> bool:
    """Whether ``query`` has a ``tip:matches`` or ``tip:matchScore`` pattern (one that
    :func:`rewrite` can answer or not)."""
    if not _MENTION.search(query):
        return False
    try:
        return bool(_sentences(query))
    except TextQueryError:  # one it cannot answer: still one
        return True


def rewrite(query: str, index: TextIndex | None) -> str:
    """``query`` with its ``tip:matches``/``tip:matchScore`` patterns answered by
    ``index``; as it is when it has none.

    Each sentence having them keeps its other pairs, and is followed by one ``VALUES``
    block per search: a sentence is a join of its patterns, so the order is free.

    :raises TextQueryError: when a pattern cannot be answered (a search that is not a
        literal, a score without its search, no index)
    """
    sentences = _sentences(query) if _MENTION.search(query) else []
    if not sentences:
        return query
    if index is None:
        raise TextQueryError("tip:matches (tipgraph's text search) is answered from a "
                             "build's text index, and this store has none: serve a build "
                             "made by `tipgraph build`, or use the store's own text search")
    texts: dict[str, set[str]] = {}
    scored: set[str] = set()  # the subjects whose score is asked for
    for sentence in sentences:
        for search in sentence.searches:
            if search.property == MATCHES:
                texts.setdefault(sentence.subject, set()).add(search.obj)
            else:
                scored.add(sentence.subject)
    scores = {text for subject in scored for text in texts.get(subject, ())}
    hits: dict[str, list[tuple[str, float]]] = {}
    out, last = [], 0
    for sentence in sentences:
        blocks = []
        variable = sentence.subject.startswith(("?", "$"))
        for search in sentence.searches:
            if search.property == MATCHES:
                text, head = search.obj, sentence.subject if variable else ""
            else:
                if not variable:
                    raise TextQueryError("the subject of tip:matchScore must be a variable")
                found = texts.get(sentence.subject, set())
                if len(found) != 1:
                    raise TextQueryError(
                        f"tip:matchScore of {sentence.subject} needs exactly one tip:matches "
                        f"of {sentence.subject} in the query; it has {len(found)}")
                text, head = next(iter(found)), f"{sentence.subject} {search.obj}"
            if text not in hits:
                hits[text] = index.hits(text, scores=text in scores)
            blocks.append(_values(head, sentence.subject_iri, hits[text],
                                  scores=search.property == MATCH_SCORE))
        # a line break after each pair: a comment inside one ends where it did
        kept = f"{sentence.subject} {' ;'.join(p + chr(10) for p in sentence.kept)} . " \
            if sentence.kept else ""
        out += [query[last:sentence.start], kept, " ".join(blocks), " "]
        last = sentence.end
    out.append(query[last:])
    return "".join(out)


def rewrite_job(job: QueryJob, index: TextIndex | None) -> QueryJob:
    """``job`` with its query's text searches answered by ``index`` (:func:`rewrite`)."""
    query = rewrite(job.query, index)
    return job if query is job.query else dataclasses.replace(job, query=query)


def _values(head: str, subject: str | None, hits: list[tuple[str, float]], *,
            scores: bool) -> str:
    """The VALUES block in a pattern's place: its variables (``head``) bound to the hits;
    for a constant subject, one empty row when it is a hit, none when it is not.

    The block is the one row set of a subquery, which means the same (a group's VALUES
    and a subquery are both joined with the rest of it) and is evaluated apart: Oxigraph
    joins a block written inline row by row with each solution of the rest (5 s for
    24,000 hits joined with a country at 100,000 publications), and a subquery's rows by
    a hash join (0.2 s).
    """
    if not head:
        return "VALUES () { () }" if any(h == subject for h, _ in hits) else "VALUES () { }"
    if scores:
        rows = " ".join(f"(<{iri}> {score:.6e})" for iri, score in hits)
        return f"{{ SELECT {head} WHERE {{ VALUES ({head}) {{ {rows} }} }} }}"
    rows = " ".join(f"<{iri}>" for iri, _ in hits)
    return f"{{ SELECT {head} WHERE {{ VALUES {head} {{ {rows} }} }} }}"


#: Words that end a triples sentence written without its ".".
_AFTER_SENTENCE = {"OPTIONAL", "FILTER", "BIND", "MINUS", "GRAPH", "SERVICE", "VALUES",
                   "UNION"}


def _sentences(query: str) -> list[_Sentence]:
    """The query's sentences having a ``tip:matches`` or ``tip:matchScore`` predicate,
    in text order."""
    found = [token for token in tokens(query) if token[0] != "comment"]
    prefixes = _prefixes(found)
    sentences: dict[int, _Sentence | None] = {}
    for i, (kind, text, _) in enumerate(found):
        if kind not in ("word", "iri") or _expand(text, prefixes) not in (MATCHES, MATCH_SCORE):
            continue
        first = _sentence_start(found, i)
        if first not in sentences:
            sentences[first] = _sentence(query, found, first, prefixes)
    return [s for s in sentences.values() if s is not None]


def _sentence(query: str, found: list[Token], first: int, prefixes: dict[str, str]
              ) -> _Sentence | None:
    """The sentence starting at token ``first``; None when no text search is one of its
    predicates (the property stood as an object, or in a PREFIX)."""
    pairs: list[list[int]] = [[]]  # token indexes of each predicate-object pair
    depth, j = 0, first + 1
    while j < len(found):
        text = found[j][1]
        if depth == 0 and (text in (".", "{", "}") or (found[j][0] == "word"
                                                      and text.upper() in _AFTER_SENTENCE)):
            break
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth -= 1
        if depth == 0 and text == ";":
            pairs.append([])
        else:
            pairs[-1].append(j)
        j += 1
    searches, kept = [], []
    for pair in pairs:
        if not pair:
            continue
        prop = _expand(found[pair[0]][1], prefixes) if found[pair[0]][0] in ("word", "iri") \
            else None
        if prop not in (MATCHES, MATCH_SCORE):
            kept.append(query[found[pair[0]][2]:_end(found[pair[-1]])])
            continue
        searches.append(_search(found, pair, prop))
    if not searches:
        return None
    subject = found[first]
    name = "tip:matches" if searches[0].property == MATCHES else "tip:matchScore"
    _check_subject(subject, name)
    iri = None if subject[0] == "var" else _expand(subject[1], prefixes)
    if subject[0] == "word" and iri is None:
        raise TextQueryError(f"the subject of {name} ({subject[1]}) has no declared prefix")
    return _Sentence(subject[2], _end(found[j - 1]), subject[1], iri, kept, searches)


def _search(found: list[Token], pair: list[int], prop: str) -> _Search:
    """The search (or the score's variable) of one predicate-object pair."""
    name = "tip:matches" if prop == MATCHES else "tip:matchScore"
    objects = [found[p] for p in pair[1:]]
    if any(t[1] == "," for t in objects):
        raise TextQueryError(f"give {name} one object per pattern (write it again instead "
                             "of a comma)")
    if prop == MATCHES:
        if not objects or objects[0][0] != "string" or not (
                len(objects) == 1 or (len(objects) == 3 and objects[1][1] == "@")
                or (len(objects) == 4 and objects[1][1] == objects[2][1] == "^")):
            shown = " ".join(t[1] for t in objects) or "nothing"
            raise TextQueryError(f"the object of {name} must be a literal, the search "
                                 f"(\"forced labour\"), not {shown}")
        return _Search(prop, _unquote(objects[0][1]))
    if len(objects) != 1 or objects[0][0] != "var":
        raise TextQueryError(f"the object of {name} must be a variable (the score)")
    return _Search(prop, objects[0][1])


def _check_subject(token: Token, name: str) -> None:
    if token[0] not in _TERM_KINDS or token[1].startswith("_:"):
        raise TextQueryError(f"the subject of {name} must be a variable or an IRI, not "
                             f"{token[1]}")


def _sentence_start(found: list[Token], i: int) -> int:
    """The first token of the triples sentence (subject, predicate-object list) whose
    predicate is token ``i``: after the nearest ``.``, ``{`` or ``}`` before it, or after
    a parenthesised expression of a keyword (``FILTER (...)``)."""
    depth = 0
    j = i - 1
    while j >= 0:
        text = found[j][1]
        if text in (")", "]"):
            depth += 1
        elif text in ("(", "["):
            depth -= 1
            if depth == 0 and text == "(" and j > 0 and found[j - 1][0] == "word" \
                    and ":" not in found[j - 1][1]:
                return _after_group(found, j)
        elif depth == 0 and text in (".", "{", "}"):
            return j + 1
        j -= 1
    return 0


def _after_group(found: list[Token], opening: int) -> int:
    """The token after the parenthesis that closes the one at ``opening``."""
    depth = 0
    for j in range(opening, len(found)):
        if found[j][1] == "(":
            depth += 1
        elif found[j][1] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(found)


def _end(token: Token) -> int:
    return token[2] + len(token[1])


def _prefixes(found: list[Token]) -> dict[str, str]:
    """The query's ``PREFIX`` declarations: prefix -> namespace IRI."""
    declared = {}
    for i in range(len(found) - 2):
        if found[i][0] == "word" and found[i][1].upper() == "PREFIX" \
                and found[i + 2][0] == "iri":
            declared[found[i + 1][1].rstrip(":")] = found[i + 2][1][1:-1]
    return declared


def _expand(term: str, prefixes: dict[str, str]) -> str | None:
    """The IRI a predicate token names (None for a keyword or an unknown prefix)."""
    if term.startswith("<"):
        return term[1:-1]
    prefix, colon, local = term.partition(":")
    if not colon or prefix not in prefixes:
        return None
    return prefixes[prefix] + local


def _unquote(text: str) -> str:
    """A SPARQL string token's value."""
    body = text[3:-3] if text[:3] in ('"""', "'''") else text[1:-1]
    return re.sub(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)",
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] in "uU"
                  else _ESCAPES.get(m.group(1), m.group(1)), body)
