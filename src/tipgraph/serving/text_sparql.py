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

**Narrowed by the index.** Tens of thousands of hits would be tens of thousands of IRIs
for the engine to parse and join (a second for *forced labour* at 100,000
publications). So the rewrite first narrows the hits by what the same group says
of the search's subject and the index also holds (:data:`~.textindex.FACT_PROPERTIES`):
a triple pattern ``?pub dct:spatial <place>`` or ``?pub dct:issued "2003"^^xsd:gYear``
at the top level of the group (not inside an ``OPTIONAL``, ``MINUS``, ``UNION`` branch
or a nested group), or ``?pub dct:issued ?year`` there with ``FILTER(?year =
"2003"^^xsd:gYear)`` (alone or ``&&``-joined) at the top level too. Every solution of
the group satisfies such a pattern, so a hit that cannot is one no solution keeps;
the patterns stay in the query, so the answer is the same, from a few hundred hits.

**A page by score.** A ``SELECT`` ordered first by a search's score
(``ORDER BY DESC(?score)``, the search at the top of its group) with a ``LIMIT`` is
handed only the search's best hits (:meth:`~.textindex.TextIndex.best_hits`: the
``LIMIT`` plus ``OFFSET`` best, and all tying the last), once the store has counted
that its group keeps enough of them (a check query taking at most that many); else
more, then all. A common word at a million publications is a third of a million
hits: a page of them took 25 s, and takes under one (:func:`_best_hits` says why the
page is the same).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tipgraph.namespaces import TIP
from tipgraph.queries import tokens
from tipgraph.serving.textindex import (
    FACT_PROPERTIES,
    GYEAR,
    TextIndex,
    TextQueryError,
    fact_token,
    year_of,
)
from tipgraph.sparql_engine import QueryJob

MATCHES = str(TIP["matches"])
MATCH_SCORE = str(TIP["matchScore"])
_MENTION = re.compile(r"matches|matchScore")
_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'",
            "\\": "\\"}
_TERM_KINDS = ("var", "iri", "word")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
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
    facts: tuple[str, ...] = ()  # what its group says of a variable subject: fact tokens
    group: tuple[int, int] | None = None  # where its group's "{" and "}" are


def uses_text_search(query: str) -> bool:
    """Whether ``query`` has a ``tip:matches`` or ``tip:matchScore`` pattern (one that
    :func:`rewrite` can answer or not)."""
    if not _MENTION.search(query):
        return False
    try:
        return bool(_sentences(query, _tokens(query)))
    except TextQueryError:  # one it cannot answer: still one
        return True


#: Answers a check query (a SELECT of one row binding :data:`ROWS` to a number) with
#: that number: how :func:`rewrite` asks the store whether a search's best hits suffice.
Count = Callable[[str], int]
#: The variable a check query binds to its number of solutions.
ROWS = "tipgraph_rows"


def rewrite(query: str, index: TextIndex | None, count: Count | None = None) -> str:
    """``query`` with its ``tip:matches``/``tip:matchScore`` patterns answered by
    ``index``; as it is when it has none.

    Each sentence having them keeps its other pairs, and is followed by one ``VALUES``
    block per search: a sentence is a join of its patterns, so the order is free.

    With ``count``, a ``SELECT`` ordered first by a search's score and taking ``LIMIT``
    (plus ``OFFSET``) solutions is handed only the search's best hits when those are
    enough (:func:`_best_hits`): a common word is a third of a million hits at a million
    publications.

    :raises TextQueryError: when a pattern cannot be answered (a search that is not a
        literal, a score without its search, no index)
    """
    if not _MENTION.search(query):
        return query
    found = _tokens(query)
    sentences = _sentences(query, found)
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
    for subject in scored:  # a constant one is refused where it stands (_substituted)
        if subject.startswith(("?", "$")) and len(texts.get(subject, ())) != 1:
            raise TextQueryError(
                f"tip:matchScore of {subject} needs exactly one tip:matches of {subject} in "
                f"the query; it has {len(texts.get(subject, ()))}")
    scores = {text for subject in scored for text in texts.get(subject, ())}
    hits: dict[tuple[str, tuple[str, ...]], list[tuple[str, float]]] = {}
    best: dict[_Ranked, list[tuple[str, float]]] = {}

    def hits_of(sentence: _Sentence, text: str) -> list[tuple[str, float]]:
        key = (text, sentence.facts)
        if key not in hits:
            hits[key] = index.hits(text, scores=text in scores, facts=sentence.facts)
        return hits[key]

    if count is not None:
        for ranked in _ranked_selects(query, found, sentences, texts):
            found_best = _best_hits(query, sentences, texts, ranked, index, count, hits_of)
            if found_best is not None:
                best[ranked] = found_best
    return _substituted(query, sentences, texts, hits_of, best)


def _substituted(query: str, sentences: list[_Sentence], texts: dict[str, set[str]],
                 hits_of: Callable[[_Sentence, str], list[tuple[str, float]]],
                 best: Mapping[_Ranked, list[tuple[str, float]]],
                 start: int = 0, end: int | None = None) -> str:
    """``query[start:end]`` with the sentences in it answered: by the hits ``best`` has
    for a :class:`_Ranked` select's search, else by ``hits_of``."""
    end = len(query) if end is None else end
    out, last = [], start
    for sentence in sentences:
        if not start <= sentence.start < end:
            continue
        blocks = []
        variable = sentence.subject.startswith(("?", "$"))
        for search in sentence.searches:
            if search.property == MATCHES:
                text, head = search.obj, sentence.subject if variable else ""
            else:
                if not variable:
                    raise TextQueryError("the subject of tip:matchScore must be a variable")
                text = next(iter(texts[sentence.subject]))
                head = f"{sentence.subject} {search.obj}"
            chosen = next((hits for plan, hits in best.items()
                           if plan.takes(sentence, text)), None)
            blocks.append(_values(head, sentence.subject_iri,
                                  hits_of(sentence, text) if chosen is None else chosen,
                                  scores=search.property == MATCH_SCORE))
        # a line break after each pair: a comment inside one ends where it did
        kept = f"{sentence.subject} {' ;'.join(p + chr(10) for p in sentence.kept)} . " \
            if sentence.kept else ""
        out += [query[last:sentence.start], kept, " ".join(blocks), " "]
        last = sentence.end
    out.append(query[last:end])
    return "".join(out)


def rewrite_job(job: QueryJob, index: TextIndex | None, count: Count | None = None
                ) -> QueryJob:
    """``job`` with its query's text searches answered by ``index`` (:func:`rewrite`)."""
    query = rewrite(job.query, index, count)
    return job if query is job.query else dataclasses.replace(job, query=query)


@dataclass(frozen=True)
class _Ranked:
    """A ``SELECT`` whose solutions are ordered first by the score of one search in its
    group (``ORDER BY DESC(?score)``), of which it takes ``wanted`` (``LIMIT`` plus
    ``OFFSET``)."""

    group: tuple[int, int]  # where its WHERE group's "{" and "}" are
    subject: str  # the search's subject variable, without its ? or $
    text: str  # the search
    facts: tuple[str, ...]
    wanted: int
    check: tuple[str, str]  # a check query's text before and after the group

    def takes(self, sentence: _Sentence, text: str) -> bool:
        """Whether the search ``text`` of ``sentence`` is this select's ranked search."""
        return sentence.group == self.group and text == self.text \
            and sentence.subject[:1] in "?$" and sentence.subject[1:] == self.subject


def _best_hits(query: str, sentences: list[_Sentence], texts: dict[str, set[str]],
               ranked: _Ranked, index: TextIndex, count: Count,
               hits_of: Callable[[_Sentence, str], list[tuple[str, float]]]
               ) -> list[tuple[str, float]] | None:
    """The hits ``ranked``'s search needs: its best (:meth:`TextIndex.best_hits`) when its
    group keeps at least ``wanted`` solutions of them; None (all of them) when a few
    widenings did not get there.

    Enough, because its group is a join of the search's hits with the rest, and every
    operator over a group keeps or drops a solution by itself: the group's solutions
    from hits scoring at least the last best one's score are all its solutions scoring
    that much, and those come first in the order. When at least ``wanted`` of them
    survive the projection (``DISTINCT`` too), the answer is among them. The store
    counts them (``count``), in a query taking at most ``wanted``.
    """
    wanted = max(ranked.wanted, 1)
    for _ in range(3):
        best, every = index.best_hits(ranked.text, wanted, facts=ranked.facts)
        if every:
            return best
        group = _substituted(query, sentences, texts, hits_of, {ranked: best},
                             ranked.group[0], ranked.group[1] + 1)
        if count(ranked.check[0] + group + ranked.check[1]) >= ranked.wanted:
            return best
        wanted *= 16
    return None


#: Aggregate functions: a select having one groups its solutions (none is ranked).
_AGGREGATES = {"COUNT", "SUM", "MIN", "MAX", "AVG", "SAMPLE", "GROUP_CONCAT"}
_FORMS = {"SELECT", "CONSTRUCT", "DESCRIBE", "ASK"}


def _ranked_selects(query: str, found: list[Token], sentences: list[_Sentence],
                    texts: dict[str, set[str]]) -> list[_Ranked]:
    """The selects of ``query`` ordered first by the score of a search at the top of
    their group, and limited: the ones :func:`_best_hits` can narrow.

    Not for a query naming graphs (``FROM``, ``GRAPH``): a check query would ask
    another graph than its group does.
    """
    if any(kind == "word" and text.upper() in ("FROM", "GRAPH") for kind, text, _ in found):
        return []
    form = next((i for i, (kind, text, _) in enumerate(found)
                 if kind == "word" and text.upper() in _FORMS), None)
    if form is None:
        return []
    prologue = query[:found[form][2]]
    starts = {token[2]: i for i, token in enumerate(found)}
    ranked: list[_Ranked] = []
    for sentence in sentences:
        if sentence.group is None or not sentence.subject.startswith(("?", "$")):
            continue
        for search in sentence.searches:
            if search.property != MATCH_SCORE:
                continue
            opening, closing = starts[sentence.group[0]], starts[sentence.group[1]]
            select = _select_of(found, opening)
            wanted = _ranked_by(found, closing, search.obj[1:])
            if select is None or wanted is None:
                continue
            text = next(iter(texts[sentence.subject]))
            plan = _Ranked(sentence.group, sentence.subject[1:], text, sentence.facts, wanted,
                           (f"{prologue}SELECT (COUNT(*) AS ?{ROWS}) WHERE {{ SELECT"
                            f"{query[_end(found[select]):sentence.group[0]]}",
                            f"\nLIMIT {wanted} }}"))
            if plan not in ranked:
                ranked.append(plan)
    return ranked


def _select_of(found: list[Token], opening: int) -> int | None:
    """The ``SELECT`` token of the group opening at token ``opening``; None when the group
    is not a select's, or the select aggregates."""
    j = opening - 1
    if j >= 0 and found[j][0] == "word" and found[j][1].upper() == "WHERE":
        j -= 1
    while j >= 0:
        kind, text, _ = found[j]
        if text in ("{", "}", "."):
            return None
        if kind == "word" and text.upper() == "SELECT":
            return j
        if kind == "word" and (text.upper() in _AGGREGATES or text.upper() in _FORMS):
            return None
        j -= 1
    return None


def _ranked_by(found: list[Token], closing: int, score: str) -> int | None:
    """``LIMIT`` plus ``OFFSET`` of the select whose group closes at token ``closing``,
    when its ``ORDER BY`` starts with ``DESC(?score)``; None otherwise (no limit, another
    order, or a ``GROUP BY``, ``HAVING`` or ``VALUES`` after the group)."""
    j, limit, offset, ordered = closing + 1, None, 0, False
    while j < len(found) and found[j][1] != "}":
        word = found[j][1].upper() if found[j][0] == "word" else found[j][1]
        if word == "ORDER" and j + 1 < len(found) and found[j + 1][1].upper() == "BY":
            condition = [t[1] for t in found[j + 2:j + 6]]
            ordered = len(condition) == 4 and condition[0].upper() == "DESC" \
                and condition[1] == "(" and condition[2][:1] in "?$" \
                and condition[2][1:] == score and condition[3] == ")"
            j += 2
            depth = 0
            while j < len(found):  # past the conditions
                text = found[j][1]
                depth += (text == "(") - (text == ")")
                if depth == 0 and (text == "}" or (found[j][0] == "word"
                                                   and text.upper() in ("LIMIT", "OFFSET"))):
                    break
                j += 1
            continue
        if word in ("LIMIT", "OFFSET") and j + 1 < len(found) and found[j + 1][0] == "number" \
                and found[j + 1][1].isdigit():
            if word == "LIMIT":
                limit = int(found[j + 1][1])
            else:
                offset = int(found[j + 1][1])
            j += 2
            continue
        return None
    return limit + offset if ordered and limit is not None else None


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


def _tokens(query: str) -> list[Token]:
    """The query's tokens but its comments."""
    return [token for token in tokens(query) if token[0] != "comment"]


def _sentences(query: str, found: list[Token]) -> list[_Sentence]:
    """The query's sentences having a ``tip:matches`` or ``tip:matchScore`` predicate,
    in text order (``found``: its :func:`_tokens`)."""
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
    pairs, j = _pairs(found, first)
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
    bounds = _group(found, first)
    facts = _group_facts(found, bounds, first, prefixes) if iri is None else ()
    group = None if bounds is None else (found[bounds[0]][2], found[bounds[1]][2])
    return _Sentence(subject[2], _end(found[j - 1]), subject[1], iri, kept, searches, facts,
                     group)


def _pairs(found: list[Token], first: int) -> tuple[list[list[int]], int]:
    """The predicate-object pairs (token indexes) of the sentence whose subject is token
    ``first``, and the token after the sentence."""
    pairs: list[list[int]] = [[]]
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
    return pairs, j


def _group_facts(found: list[Token], bounds: tuple[int, int] | None, first: int,
                 prefixes: dict[str, str]) -> tuple[str, ...]:
    """The fact tokens (:func:`~.textindex.fact_token`) of what the group around the
    sentence at token ``first`` requires of its subject variable: the
    :data:`~.textindex.FACT_PROPERTIES` patterns with a constant object at the group's top
    level, and the ``FILTER(?v = constant)`` of an object variable of one (``bounds``:
    the group's braces, :func:`_group`)."""
    if bounds is None:
        return ()
    name = found[first][1][1:]  # ?pub and $pub are one variable
    facts: list[str] = []
    bound_by: dict[str, str] = {}  # object variable -> the fact property binding it
    filters: list[list[Token]] = []
    k, close = bounds[0] + 1, bounds[1]
    starts, depth = True, 0
    opened_by_word: list[bool] = []  # per open "(" at the top: after a keyword or function
    while k < close:
        kind, text, _ = found[k]
        if depth == 0 and starts and kind == "var":
            pairs, end = _pairs(found, k)
            if text[1:] == name:
                for pair in pairs:
                    _pair_facts(found, pair, prefixes, facts, bound_by)
            k, starts = end, False
            continue
        if depth == 0 and kind == "word" and text.upper() == "FILTER" and k + 1 < close \
                and found[k + 1][1] == "(":
            end = _after_group(found, k + 1)
            filters.append(found[k + 2:end - 1])
        if text in ("(", "[", "{"):
            if depth == 0 and text == "(":
                opened_by_word.append(k > 0 and found[k - 1][0] == "word"
                                      and ":" not in found[k - 1][1])
            depth += 1
            starts = False
        elif text in (")", "]", "}"):
            depth -= 1
            starts = depth == 0 and (text == "}" or (text == ")" and opened_by_word.pop()))
            if depth == 0 and text == "]":
                starts = False
        else:
            starts = depth == 0 and text == "."
        k += 1
    for expression in filters:
        for conjunct in _conjuncts(expression):
            if len(conjunct) < 3:
                continue
            if conjunct[0][0] == "var" and conjunct[1][1] == "=":
                variable, constant = conjunct[0][1][1:], conjunct[2:]
            elif conjunct[-1][0] == "var" and conjunct[-2][1] == "=":
                variable, constant = conjunct[-1][1][1:], conjunct[:-2]
            else:
                continue
            if variable in bound_by:
                token = _constant_fact(bound_by[variable], constant, prefixes)
                if token is not None:
                    facts.append(token)
    return tuple(dict.fromkeys(facts))


def _pair_facts(found: list[Token], pair: list[int], prefixes: dict[str, str],
                facts: list[str], bound_by: dict[str, str]) -> None:
    """Add the facts one predicate-object pair of the subject says (a constant object), or
    the variable it binds to a fact property (an object variable)."""
    if not pair or found[pair[0]][0] not in ("word", "iri"):
        return
    prop = _expand(found[pair[0]][1], prefixes)
    if prop not in FACT_PROPERTIES:
        return
    objects: list[list[Token]] = [[]]
    for p in pair[1:]:
        if found[p][1] == ",":
            objects.append([])
        else:
            objects[-1].append(found[p])
    for constant in objects:
        if len(constant) == 1 and constant[0][0] == "var":
            bound_by[constant[0][1][1:]] = prop
            continue
        token = _constant_fact(prop, constant, prefixes)
        if token is not None:
            facts.append(token)


def _constant_fact(prop: str, constant: list[Token], prefixes: dict[str, str]) -> str | None:
    """The fact token of ``prop`` being the constant these tokens write: an absolute IRI,
    or an ``xsd:gYear`` literal; None for anything else (nothing narrows)."""
    if len(constant) == 1 and constant[0][0] in ("word", "iri"):
        iri = _expand(constant[0][1], prefixes)
        # a relative IRI resolves against a base; an escape is not the IRI's text
        if iri is None or "\\" in constant[0][1] or not _ABSOLUTE.match(iri):
            return None
        return fact_token(prop, iri)
    if len(constant) == 4 and constant[0][0] == "string" and constant[1][1] == "^" \
            and constant[2][1] == "^" and _expand(constant[3][1], prefixes) == GYEAR:
        year = year_of(_unquote(constant[0][1]))
        return None if year is None else fact_token(prop, year=year)
    return None


def _conjuncts(expression: list[Token]) -> list[list[Token]]:
    """The parts of a ``FILTER`` expression joined by ``&&`` at its top level, each
    without the parentheses around it."""
    parts: list[list[Token]] = [[]]
    depth, i = 0, 0
    while i < len(expression):
        text = expression[i][1]
        if text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
        if depth == 0 and text == "&" and i + 1 < len(expression) \
                and expression[i + 1][1] == "&":
            parts.append([])
            i += 2
            continue
        parts[-1].append(expression[i])
        i += 1
    found = []
    for part in parts:
        while len(part) > 2 and part[0][1] == "(" and _after_group(part, 0) == len(part):
            part = part[1:-1]
        found.append(part)
    return found


def _group(found: list[Token], i: int) -> tuple[int, int] | None:
    """The tokens ``{`` and ``}`` of the group whose top level token ``i`` is at."""
    depth, j = 0, i - 1
    while j >= 0:
        if found[j][1] == "}":
            depth += 1
        elif found[j][1] == "{":
            if depth == 0:
                break
            depth -= 1
        j -= 1
    if j < 0:
        return None
    k = _closing(found, j, "{}")
    return None if k is None else (j, k)


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
    closing = _closing(found, opening, "()")
    return len(found) if closing is None else closing + 1


def _closing(found: list[Token], opening: int, pair: str) -> int | None:
    """Where the bracket ``pair[1]`` closes the ``pair[0]`` at ``opening`` (None: never)."""
    depth = 0
    for j in range(opening, len(found)):
        if found[j][1] == pair[0]:
            depth += 1
        elif found[j][1] == pair[1]:
            depth -= 1
            if depth == 0:
                return j
    return None


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
