"""The engine: detect personal information in JSON and text, and rewrite it in one pass.

Theory of operation (one document):

1. Parse with orjson (bytes in) unless the caller passes a parsed value.
2. Walk the tree once. Each key's signal comes from a bounded per-engine cache
   (:class:`~cpragate.pii.fieldnames.KeySignals`). A value under a telling key is
   checked by that entity's validator only (``"ssn": "N/A"`` is not a finding). Every
   other string is appended to one list; nothing else is allocated per value.
3. The strings are joined with NUL and scanned once (:mod:`cpragate.pii.textscan`);
   hits are mapped back to their values by binary search over the value offsets.
4. ``process_*`` applies the action of each finding in place (mask, redact, tokenize,
   drop) and re-serializes with orjson; ``block`` stops and returns no body.

Findings and annotations never hold a raw value: a :class:`Finding` names the JSON path,
entity, category, SPI flag and the span inside the string, and a ``preview`` only if the
caller asked for one, which is always the *masked* value.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from typing import Any, ClassVar, Final, NamedTuple

import orjson
from mypy_extensions import mypyc_attr

from cpragate.errors import PiiError, PiiInputError
from cpragate.pii import fieldnames as fn
from cpragate.pii import validators as _v
from cpragate.pii.categories import BUILTIN, Category, Entity
from cpragate.pii.config import Action, ActionRules, MaskOptions, PiiConfig
from cpragate.pii.operators import Masker, Tokenizer, mask_value, redact_value
from cpragate.pii.recognizers import (
    _NAME_PUNCT_BYTES,
    RECOGNIZERS,
    GeolocationRecognizer,
    Recognizer,
    decimals,
)
from cpragate.pii.textscan import SEP, CustomPattern, TextScanner
from cpragate.pii.validators import VALIDATORS, latlng_valid

__all__ = ["Annotations", "Engine", "Finding", "ProcessResult", "render_path"]

# Enum members as module globals: an attribute lookup on an Enum class costs ~10x a
# global lookup in CPython 3.11, and these are read per value and per finding.
_A_ALLOW: Final = Action.ALLOW
_A_BLOCK: Final = Action.BLOCK
_A_DROP: Final = Action.DROP
_A_MASK: Final = Action.MASK
_A_REDACT: Final = Action.REDACT
_A_TOKENIZE: Final = Action.TOKENIZE
_E_ADDRESS = Entity.STREET_ADDRESS
_E_CARD = Entity.CREDIT_CARD
_E_GEO = Entity.GEOLOCATION
_E_PERSON = Entity.PERSON

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")

# Entities whose presence marks an object as a person record (resolves a plain "name").
_PERSONAL = frozenset(
    {Entity.EMAIL, Entity.PHONE, Entity.US_SSN, Entity.DATE_OF_BIRTH, Entity.STREET_ADDRESS,
     Entity.PERSON, Entity.US_DRIVER_LICENSE, Entity.US_PASSPORT}
)  # fmt: skip


class Finding(NamedTuple):
    """One detected value. Never holds the raw value. Immutable.

    (A named tuple rather than a frozen dataclass: findings are built per detected value,
    and a frozen dataclass's ``__init__`` costs several times more.)

    :ivar path: JSON path of the value (``$.items[3].ssn``); ``$`` for plain text. For a
        latitude/longitude pair held in two fields, the path of their object.
    :ivar entity: entity name (``us_ssn``, ``email``... or a custom entity).
    :ivar category: CPRA category (:class:`~cpragate.pii.categories.Category` value).
    :ivar spi: sensitive personal information?
    :ivar span: ``(start, end)`` character offsets inside the string, or None when the
        whole value is the finding (decided by field name or a value pattern).
    :ivar source: ``field`` (field name + validator) or ``pattern`` (value pattern).
    :ivar preview: the masked value, only when the caller asked for previews.
    """

    path: str
    entity: str
    category: str
    spi: bool
    span: tuple[int, int] | None = None
    source: str = "pattern"
    preview: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no raw value)."""
        d: dict[str, Any] = {
            "path": self.path,
            "entity": self.entity,
            "category": self.category,
            "spi": self.spi,
            "source": self.source,
        }
        if self.span is not None:
            d["span"] = list(self.span)
        if self.preview is not None:
            d["preview"] = self.preview
        return d


@mypyc_attr(allow_interpreted_subclasses=True)  # filters/pii's PiiReport extends it (cpragate._accel)
class Annotations:
    """Counts for audit and metrics: what was found and done; never values.

    A plain class with a dataclass's constructor, equality and repr: compiled, a dataclass
    keeps the ``__init__`` the dataclasses module generates, interpreted (~2.7k instructions
    per response, one Annotations each).

    :ivar entities: findings per entity.
    :ivar categories: findings per CPRA category.
    :ivar spi: number of SPI findings.
    :ivar actions: findings per action applied (``mask``, ``allow``...).
    :ivar blocked: a ``block`` rule matched; the body must not be sent.
    :ivar blocked_by: the entity that triggered the block.
    """

    FIELDS: ClassVar[tuple[str, ...]] = ("entities", "categories", "spi", "actions", "blocked", "blocked_by")

    def __init__(
        self,
        entities: dict[str, int] | None = None,
        categories: dict[str, int] | None = None,
        spi: int = 0,
        actions: dict[str, int] | None = None,
        blocked: bool = False,
        blocked_by: str | None = None,
        summary_text: str | None = None,
    ) -> None:
        self.entities: dict[str, int] = {} if entities is None else entities
        self.categories: dict[str, int] = {} if categories is None else categories
        self.spi = spi
        self.actions: dict[str, int] = {} if actions is None else actions
        self.blocked = blocked
        self.blocked_by = blocked_by
        self.summary_text: str | None = summary_text
        """The decision text of these counts (filters/pii/fastpath.summary) when the engine
        had it at hand (its native tally keeps it with the kinds of findings it counted
        last), else None. Not part of equality or repr; the methods that change the
        counts clear it, and code that writes the dicts directly must not rely on it."""

    def _state(self) -> tuple[object, ...]:
        return tuple([getattr(self, n) for n in self.FIELDS])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Annotations)
        return self._state() == other._state()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.FIELDS)})"

    def count(self, entity: str, category: str, spi: bool, action: Action | None) -> None:
        """Add one finding (and the action applied to it)."""
        self.summary_text = None
        self.entities[entity] = self.entities.get(entity, 0) + 1
        self.categories[category] = self.categories.get(category, 0) + 1
        if spi:
            self.spi += 1
        if action is not None:
            self.actions[action.value] = self.actions.get(action.value, 0) + 1

    def add(self, entity: str, category: str, spi: bool, action: str | None, n: int) -> None:
        """Add ``n`` findings of one kind (``action`` is the action's value or None)."""
        self.summary_text = None
        self.entities[entity] = self.entities.get(entity, 0) + n
        self.categories[category] = self.categories.get(category, 0) + n
        if spi:
            self.spi += n
        if action is not None:
            self.actions[action] = self.actions.get(action, 0) + n

    def merge(self, other: Annotations) -> None:
        """Add ``other``'s counts to these (streaming sums element annotations)."""
        self.summary_text = None
        for k, n in other.entities.items():
            self.entities[k] = self.entities.get(k, 0) + n
        for k, n in other.categories.items():
            self.categories[k] = self.categories.get(k, 0) + n
        for k, n in other.actions.items():
            self.actions[k] = self.actions.get(k, 0) + n
        self.spi += other.spi
        if other.blocked and not self.blocked:
            self.blocked = True
            self.blocked_by = other.blocked_by

    @property
    def total(self) -> int:
        """Number of findings."""
        total = 0
        for n in self.entities.values():  # a plain loop: sum() is a generic call compiled
            total += n
        return total

    def audit_counts(self, response: bool) -> dict[str, Any]:
        """These counts as the audit trail records them (filters/audit/fastpath.py): copies of
        the dicts (the record is handed to the audit writer's thread, never the live ones);
        the request side (``response`` False) without actions and block."""
        if not response:
            return {"categories": dict(self.categories), "entities": dict(self.entities), "spi": int(self.spi)}
        p: dict[str, Any] = {
            "categories": dict(self.categories),
            "entities": dict(self.entities),
            "spi": int(self.spi),
            "actions": dict(self.actions),
        }
        if self.blocked:
            p["blocked"] = str(self.blocked_by or "")
        return p

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "entities": dict(sorted(self.entities.items())),
            "categories": dict(sorted(self.categories.items())),
            "spi": self.spi,
            "actions": dict(sorted(self.actions.items())),
            "blocked": self.blocked,
            "blocked_by": self.blocked_by,
        }


class ProcessResult(NamedTuple):
    """The rewritten body (``b""`` when blocked) and its annotations."""

    body: bytes
    annotations: Annotations


# A location is (parent location, key) or None for the root: paths are built lazily.
Loc = tuple[Any, Any] | None


# An internal finding, with a reference to where its value lives (for rewriting). A plain
# tuple: one is built per detected value, and a tuple costs a fraction of an object.
#   [0] parent  dict or list holding the value (None: the root value, or a [lat, lng] list)
#   [1] key     key or index of the value in its parent
#   [2] loc     location of the value (for a lat/lng field pair, of its object); None in
#               the hits the C walk and scan make for one value when _detect's paths is
#               False (process_value: only scan_json and previews read it)
#   [3] entity  [4] spi  [5] span (None: the whole value)  [6] source ("field"/"pattern")
#   [7] extra   the lng key of a field pair, or the list of a [lat, lng] pair, else None
_Hit = tuple[Any, Any, Loc, str, bool, "tuple[int, int] | None", str, Any]


def render_path(loc: Loc) -> str:
    """``$.a.b[3]['odd key']`` for a location chain."""
    parts: list[str] = []
    while loc is not None:
        loc, key = loc
        parts.append(_segment(key))
    return "$" + "".join(reversed(parts))


def _segment(key: Any) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _IDENT.fullmatch(key):
        return f".{key}"
    return "[" + orjson.dumps(key).decode().replace("'", "\\'") + "]"


def _number_text(x: float) -> str:
    return repr(x)


def _is_num(x: Any) -> bool:
    t = type(x)
    return t is float or t is int


def _as_float(x: Any) -> float | None:
    t = type(x)
    if t is float or t is int:
        return float(x)
    if t is str:
        try:
            return float(x)
        except ValueError:
            return None
    return None


class Engine:
    """Detects and rewrites PII. Thread-compatible: build once, call from one thread.

    :param config: the engine configuration; defaults detect every built-in entity and
        mask SPI.
    """

    def __init__(self, config: PiiConfig | None = None, *, native: bool = True) -> None:
        """:param native: walk and prefilter in C when cpragate.pii._cscan is loaded (False:
            the pure-Python reference; tests compare both)."""
        self.config = config or PiiConfig()
        enabled = frozenset(self.config.entities or BUILTIN)
        self._enabled = enabled
        self._recognizers: dict[str, Recognizer] = {
            name: cls() for name, cls in RECOGNIZERS.items() if name in enabled
        }
        custom: list[CustomPattern] = []
        self._custom_info: dict[str, tuple[str, bool]] = {}
        extra_fields = dict(self.config.field_names)
        self._custom_by_field: dict[str, CustomPattern] = {}
        for cr in self.config.custom_recognizers:
            validator = VALIDATORS[cr.validator] if cr.validator else None
            cp = CustomPattern(cr.entity, re.compile(cr.pattern), validator, tuple(cr.context), cr.spi)
            custom.append(cp)
            self._custom_info[cr.entity] = (cr.category.value, cr.spi)
            for f in cr.field_names:
                extra_fields[f] = cr.entity
                self._custom_by_field[cr.entity] = cp
        for f, entity in self.config.field_names.items():
            if entity not in BUILTIN and entity not in self._custom_info:
                raise PiiError(
                    f"field_names maps {f!r} to unknown entity {entity!r}.",
                    fix="Use a built-in entity name or define a custom recognizer for it.",
                )
        for f in self.config.ignore_fields:
            extra_fields[f] = "ignore"
        self._keys = fn.KeySignals(extra_fields)
        # Plain-str categories of built-ins: Enum.value is a property call per access.
        self._category_of: dict[str, str] = {e: i.category.value for e, i in BUILTIN.items()}
        self._scanner = TextScanner(enabled, custom, self.config.names_in_free_text, native)
        self._native_walk: _Walk | None = (
            _native_walk if native else None
        )
        self._geo = GeolocationRecognizer()
        self._sigs: dict[str, _Sig] = {}
        if _native_sig_forget is not None:
            # The C walk's key-signal table holds keys and the sigs dicts they came from:
            # a new engine (start, reload) lets those of the engines it replaces go.
            _native_sig_forget(None)
        self._containers: dict[str, bool] = {}
        self._segments: dict[str | int, str] = {}
        self._deciders: dict[int, _Decider] = {}
        self._last_decider: _Decider | None = None  # (_decider: the last one returned)
        self._person_on = _E_PERSON in enabled
        self._geo_on = _E_GEO in enabled  # (read by the C walk; _geo_fields tests _enabled)
        # Read per document: a (frozen) pydantic model's attribute is a generic lookup.
        self._free_text: bool = self.config.free_text
        self._max_string_chars: int = self.config.max_string_chars
        # _value_matches(PERSON, v) for the C walk: a plain name answered in C (_cscan), the
        # rest by the recognizer's method; None: the walk calls _value_matches.
        person = self._recognizers.get(_E_PERSON)
        self._person_match: Callable[[str], bool] | None = (
            _native_matcher(4, person.match_value, _NAME_PUNCT_BYTES)
            if native and person is not None and _native_matcher is not None
            else None
        )
        self._masker = Masker(self.config.mask)
        # Bound once: a method read as a value makes a bound method object per read. The C
        # helpers as attributes: a module global of a compiled module is a dict lookup.
        self._mask_fn: Callable[[str, str], str] = self._masker.mask
        # (typed as precisely as the globals: a result typed Any is unpacked by iteration)
        self._tally_fn: _Tally | None = _native_tally if native else None
        self._join_fn: _Join | None = _native_join if native and _native_map is not None else None
        self._map_fn: _MapHits | None = _native_map if native else None
        # join, scan and map in one C call for the scanner's common case (prose and
        # addresses), when the scanner says which passes it makes; else join_fn and scan()
        flags = self._scanner.fast_flags
        self._scan_fn: _ScanTexts | None = (
            _native_scan_texts if native and flags >= 0 and self._join_fn is not None else None
        )
        self._scan_flags: int = flags
        # join_texts may skip a text the scanner could find nothing in: not with custom patterns
        self._scan_quiet = not custom
        # What the C walk reads from the engine, in one attribute (one lookup per document
        # instead of five); every member is fixed for the engine's life (_sigs is cleared
        # in place, never replaced).
        self._walk_state = (self._sigs, self._recognizers, self._person_match, self._person_on, self._geo_on)
        self._tokenizer: Tokenizer | None = (
            Tokenizer(self.config.tokenize) if self.config.tokenize.key is not None else None
        )

    # ------------------------------------------------------------------ public API

    def scan_json(self, data: bytes | str | Any, *, previews: bool = False) -> list[Finding]:
        """Findings in a JSON document (bytes/str are parsed; other values are walked).

        :param previews: fill ``Finding.preview`` with the masked value (for display).
        :raises PiiInputError: ``data`` is bytes/str that is not valid JSON.
        """
        root = self._parse(data) if isinstance(data, (bytes, bytearray, memoryview, str)) else data
        hits = self._detect(root)
        if previews:
            return [self._finding(h, True, root) for h in hits]
        if self._native_walk is not None and _native_findings is not None:
            # The loop below in C (_cscan.c): the same Findings, paths and segment cache.
            return _native_findings(hits, self._segments, _segment, self._category_of, self._classify, Finding)
        # The common case inline: one tuple per finding, each container's path built once.
        out: list[Finding] = []
        memo: dict[int, str] = {}
        category_of = self._category_of
        for h in hits:
            entity = h[3]
            spi = h[4]
            category = category_of.get(entity)
            if category is None:
                category, spi = self._classify(entity, spi)
            out.append(_new_finding(Finding, (self._path_memo(h[2], memo), entity, category, spi, h[5], h[6], None)))
        return out

    def scan_text(self, text: str, *, path: str = "$", previews: bool = False) -> list[Finding]:
        """Findings inside plain text (spans are offsets into ``text``)."""
        out = []
        for s, e, entity, spi in self._scanner.scan(text):
            category, spi = self._classify(entity, spi)
            preview = self._preview(entity, text[s:e]) if previews else None
            out.append(Finding(path, entity, category, spi, (s, e), "pattern", preview))
        return out

    def process_json(self, data: bytes | str | Any, actions: ActionRules | None = None) -> ProcessResult:
        """Parse, detect, apply actions and re-serialize in one pass.

        :param actions: rules for this exchange (route/consumer/purpose); the config's
            ``actions`` when None.
        :returns: the rewritten JSON (``b""`` if blocked) and the annotations.
        :raises PiiInputError: the body is not valid JSON.
        """
        root = self._parse(data) if isinstance(data, (bytes, bytearray, memoryview, str)) else data
        root, ann = self.process_value(root, actions)
        if ann.blocked:
            return ProcessResult(b"", ann)
        return ProcessResult(orjson.dumps(root), ann)

    def process_value(
        self, root: Any, actions: ActionRules | None = None, *, base: Loc = None
    ) -> tuple[Any, Annotations]:
        """Rewrite a parsed JSON value (in place where possible); returns the new root.

        :param base: location prefix for paths (streaming passes the element's location).
        """
        rules = actions or self.config.actions
        hits = self._detect(root, base, False)  # (no paths: nothing below reads them)
        if not hits:
            # Annotations() with its fields spelled out: the default factories are generic calls.
            return root, Annotations({}, {}, 0, {}, False, None)
        return self._apply(root, hits, rules, base)

    def process_text(self, text: str, actions: ActionRules | None = None) -> tuple[str, Annotations]:
        """Rewrite PII inside plain text; ``drop`` acts like ``redact`` on a span."""
        rules = actions or self.config.actions
        ann = Annotations()
        hits: list[_Hit] = [
            (None, None, None, entity, spi, (s, e), "pattern", None)
            for s, e, entity, spi in self._scanner.scan(text)
        ]
        out = self._rewrite_string(text, hits, self._decider(rules), ann)
        return ("" if ann.blocked else out), ann

    def detokenize(self, token: str) -> str:
        """The value behind a reversible token (AES-SIV mode only).

        :raises PiiError: tokenization is not configured.
        :raises PiiTokenError: the token is not valid for this key.
        """
        if self._tokenizer is None:
            raise PiiError("detokenize called but tokenize.key is not configured.")
        return self._tokenizer.detokenize(token)

    def reveal(self, token: str) -> tuple[str, str, str, bool]:
        """(value, entity, category, spi) behind a reversible token (the admin API's detokenize).

        :raises PiiError: tokenization is not configured, or makes keyed hashes (irreversible).
        :raises PiiTokenError: the token is not valid for this key.
        """
        if self._tokenizer is None:
            raise PiiError("detokenize called but tokenize.key is not configured.")
        if not self.config.tokenize.reversible:
            raise PiiError("tokens are keyed hashes (tokenize.reversible is false) and cannot be reversed.")
        value, entity = self._tokenizer.open(token)
        builtin = BUILTIN.get(entity)
        category, spi = self._classify(entity, builtin.spi if builtin is not None else False)
        return value, entity, category, spi

    def stream(self, actions: ActionRules | None = None, *, max_element_bytes: int = 1 << 20) -> Any:
        """A :class:`~cpragate.pii.streaming.JsonArrayStream` bound to this engine."""
        from cpragate.pii.streaming import JsonArrayStream

        return JsonArrayStream(self, actions, max_element_bytes=max_element_bytes)

    # ------------------------------------------------------------------ detection

    @staticmethod
    def _parse(data: bytes | bytearray | memoryview | str) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise PiiInputError(f"the body is not valid JSON ({exc.msg} at {exc.pos}).") from None

    def _classify(self, entity: str, spi: bool) -> tuple[str, bool]:
        category = self._category_of.get(entity)
        if category is not None:
            return category, spi
        category, cspi = self._custom_info.get(entity, (Category.IDENTIFIERS.value, spi))
        return category, cspi

    def _finding(self, h: _Hit, previews: bool, root: Any = None) -> Finding:
        """:param root: the document (the value of a finding at the root, for its preview)."""
        category, spi = self._classify(h[3], h[4])
        path = self._path(h[2])
        preview = None
        if previews:
            value = self._value_of(h, root)
            if h[5] is not None and isinstance(value, str):
                value = value[h[5][0] : h[5][1]]
            preview = self._preview(h[3], value)
        return Finding(path, h[3], category, spi, h[5], h[6], preview)

    def _decider(self, rules: ActionRules) -> _Decider:
        """The decision cache of ``rules``, kept across calls.

        Rules are frozen models and a gateway passes the same few objects (one per route
        or purpose) again and again, so each is resolved once per entity, not per body.
        The rules object is held by its decider, so its id cannot be reused while cached.
        The last one is also kept aside: most calls pass the rules of the call before
        (``id()`` makes an int object and the dict hashes it, ~400 instructions).
        """
        d = self._last_decider
        if d is not None and d.rules is rules:
            return d
        d = self._deciders.get(id(rules))
        if d is None or d.rules is not rules:
            if len(self._deciders) >= 256:
                self._deciders.clear()
            d = self._deciders[id(rules)] = _Decider(self, rules)
        self._last_decider = d
        return d

    def _path(self, loc: Loc) -> str:
        """:func:`render_path` with the rendered segment of each key cached (bounded)."""
        segments = self._segments
        parts = []
        while loc is not None:
            loc, key = loc
            seg = segments.get(key)
            if seg is None:
                seg = _segment(key)
                if len(segments) >= 20_000:
                    segments.clear()
                segments[key] = seg
            parts.append(seg)
        parts.append("$")
        parts.reverse()
        return "".join(parts)

    def _path_memo(self, loc: Loc, memo: dict[int, str]) -> str:
        """:meth:`_path` for many locations of one document: each container's path is
        rendered once. ``memo`` is keyed by the container location tuple's id, which is
        stable while the hits that hold the locations are alive (one call)."""
        if loc is None:
            return "$"
        parent, key = loc
        base = "$" if parent is None else memo.get(id(parent))
        if base is None:
            base = memo[id(parent)] = self._path_memo(parent, memo)
        seg = self._segments.get(key)
        if seg is None:
            seg = _segment(key)
            if len(self._segments) >= 20_000:
                self._segments.clear()
            self._segments[key] = seg
        return base + seg

    def _preview(self, entity: str, value: Any) -> str:
        if isinstance(value, str):
            if entity == _E_GEO:
                return _coarsen_text(value, self.config.mask)
            return mask_value(value, entity, self.config.mask)
        if isinstance(value, dict | list):
            return "<pair>"
        return mask_value(_number_text(value), entity, self.config.mask)

    @staticmethod
    def _value_of(h: _Hit, root: Any) -> Any:
        if h[7] is not None:
            return "<pair>"
        if h[0] is None:
            return root  # a finding in a bare value: the document is that value
        return h[0][h[1]]

    def _detect(self, root: Any, base: Loc = None, paths: bool = True) -> list[_Hit]:
        """The hits in ``root``.

        :param paths: False when the caller never reads a hit's value location (``h[2]``,
            read only by ``scan_json`` and previews for paths): the C walk and scan then
            leave it None in the hits they make for a single value (no tuple per hit);
            the Python walk makes it regardless, with the same everything else.
        """
        hits: list[_Hit] = []
        texts: list[str] = []
        refs: list[tuple[Any, Any, Loc]] = []
        if self._native_walk is not None:
            # _walk in C (_cscan.c): the same calls, in the same order, for what is not
            # bookkeeping (validators, coordinates, names).
            self._native_walk(self, root, base, hits, texts, refs, paths)
        else:
            self._walk(root, base, None, None, hits, texts, refs)
        if texts and self._free_text:
            self._scan_texts(texts, refs, hits, paths)
        return hits

    def _scan_texts(
        self, texts: list[str], refs: list[tuple[Any, Any, Loc]], hits: list[_Hit], paths: bool = True
    ) -> None:
        limit = self._max_string_chars
        join, map_hits = self._join_fn, self._map_fn
        if join is not None and map_hits is not None:
            # This method in C (_cscan.c): join_texts is the loop below, map_hits _map_hits.
            # (quiet: None also when the scanner could find nothing, see _cscan.c)
            fused = self._scan_fn
            if fused is not None:
                # join_texts, and for prose and addresses the scan and map_hits too (then
                # None, the hits appended); else join_texts' answer for the scanner below
                flags = self._scan_flags if paths else self._scan_flags | _SCAN_NO_PATHS
                joined_refs = fused(texts, refs, limit, self._scan_quiet, flags, hits)
            else:
                joined_refs = join(texts, refs, limit, self._scan_quiet)
            if joined_refs is None:
                return
            text, at, sentences, kept_at = joined_refs
            hit_list = self._scanner.scan(text, sentences)
            if hit_list:
                map_hits(hit_list, at, kept_at, hits)
            return
        starts: list[int] = []
        prose: list[tuple[int, int]] = []
        kept: list[str] = []
        kept_refs: list[tuple[Any, Any, Loc]] = []
        pos = 0
        for t, ref in zip(texts, refs, strict=True):
            n = len(t)
            # UUIDs and ISO timestamps are the most common digit-dense values in API
            # payloads and never hold PII; skipping them halves the prefilter's work.
            # (A UUID's dashes are at 8, 13, 18 and 23; the hex check keeps any other
            # 36-character string with dashes there in the scan.)
            if n == 36 and t[8] == "-" and t[13] == "-" and t[23] == "-" and _UUID.fullmatch(t):
                continue
            if 19 <= n <= 35 and t[10] == "T" and t[4] == "-" and t[13] == ":":
                continue
            if n > limit:
                t = t[:limit]
                n = limit
            starts.append(pos)
            kept.append(t)
            kept_refs.append(ref)
            # Sentences: the only place context-driven passes (names, birth dates) look.
            if n > 20 and " " in t:
                prose.append((pos, pos + n))
            pos += n + 1
        if not kept:
            return
        refs = kept_refs
        joined = kept[0] if len(kept) == 1 else SEP.join(kept)
        found = self._scanner.scan(joined, prose)
        if not found:
            return
        self._map_hits(found, starts, refs, hits)

    def _map_hits(
        self, found: list[tuple[int, int, str, bool]], starts: list[int], refs: list[tuple[Any, Any, Loc]], hits: list[_Hit]
    ) -> None:
        """The scanner's hits in the joined text as hits in their values."""
        for s, e, entity, spi in found:
            i = bisect.bisect_right(starts, s) - 1
            off = starts[i]
            parent, key, loc = refs[i]
            if parent is None:
                vloc = loc
            else:
                vloc = (loc, key)
            hits.append((parent, key, vloc, entity, spi, (s - off, e - off), "pattern", None))

    def _walk(
        self,
        node: Any,
        loc: Loc,
        container_key: str | None,
        list_sig: str | None,
        hits: list[_Hit],
        texts: list[str],
        refs: list[tuple[Any, Any, Loc]],
    ) -> None:
        t = type(node)
        if t is dict:
            self._walk_dict(node, loc, container_key, hits, texts, refs)
        elif t is list:
            self._walk_list(node, loc, container_key, list_sig, hits, texts, refs)
        elif t is str:
            # A bare string document.
            texts.append(node)
            refs.append((None, None, loc))

    def _signal(self, key: str) -> _Sig:
        """(code, entity, value matcher, spi) for a key, cached per engine (bounded like
        KeySignals): the walk then validates a value with one call and no lookups."""
        sig = self._keys.get(key)
        if sig is None:
            code = _NONE
        elif sig == fn.GEO_LAT:
            code = _LAT
        elif sig == fn.GEO_LNG:
            code = _LNG
        elif sig == fn.GEO_PAIR:
            code = _PAIR
        elif sig == fn.AMBIGUOUS_NAME:
            code = _NAME
        elif sig == "ignore":
            code = _IGNORE
        else:
            code = _ENTITY
        entity = sig or ""
        out = (code, entity, self._matcher(entity) if code == _ENTITY else _never, self._spi(entity))
        if len(self._sigs) >= 20_000:
            if _native_sig_forget is not None:  # the C walk's table lets go of them too
                _native_sig_forget(self._sigs)
            self._sigs.clear()
        self._sigs[key] = out
        return out

    def _person_container(self, key: str | None) -> bool:
        if key is None:
            return False
        hit = self._containers.get(key)
        if hit is None:
            hit = fn.is_person_container(key)
            if len(self._containers) >= 20_000:
                self._containers.clear()
            self._containers[key] = hit
        return hit

    def _walk_dict(
        self,
        node: dict[str, Any],
        loc: Loc,
        container_key: str | None,
        hits: list[_Hit],
        texts: list[str],
        refs: list[tuple[Any, Any, Loc]],
    ) -> None:
        sigs = self._sigs
        lat_k: str | None = None
        lng_k: str | None = None
        names: list[str] | None = None
        personal = False
        for k, v in node.items():
            try:
                sig = sigs[k]  # a subscript, not a method call: most keys are cached
            except KeyError:
                sig = self._signal(k)
            code = sig[0]
            tv = type(v)
            if code == _NONE:
                if tv is str:
                    if len(v) > 5:
                        texts.append(v)
                        refs.append((node, k, loc))
                elif tv is dict:
                    self._walk_dict(v, (loc, k), k, hits, texts, refs)
                elif tv is list:
                    self._walk_list(v, (loc, k), k, None, hits, texts, refs)
                elif tv is int and (v > 999_999_999_999 or v < -999_999_999_999):
                    self._bare_int(node, k, loc, v, hits)
                continue
            if code == _ENTITY:
                entity = sig[1]
                if tv is str:
                    if sig[2](v):
                        hits.append((node, k, (loc, k), entity, sig[3], None, "field", None))
                        personal = personal or entity in _PERSONAL
                    else:
                        texts.append(v)
                        refs.append((node, k, loc))
                elif tv is int:
                    if entity in _NUMERIC_OK and sig[2](str(v)):
                        hits.append((node, k, (loc, k), entity, sig[3], None, "field", None))
                elif tv is dict:
                    if entity == _E_ADDRESS:
                        personal = True
                    self._walk_dict(v, (loc, k), k, hits, texts, refs)
                elif tv is list:
                    self._walk_list(v, (loc, k), k, entity, hits, texts, refs)
            elif code == _LAT:
                lat_k = k
            elif code == _LNG:
                lng_k = k
            elif code == _NAME:
                if tv is str:
                    if names is None:
                        names = []
                    names.append(k)
                elif tv is dict:
                    self._walk_dict(v, (loc, k), k, hits, texts, refs)
                elif tv is list:
                    self._walk_list(v, (loc, k), k, None, hits, texts, refs)
            elif code == _PAIR:
                self._geo_value(node, k, loc, v, hits, texts, refs)
        if lat_k is not None or lng_k is not None:
            self._geo_fields(node, loc, lat_k, lng_k, hits)
        if names is not None:
            person = self._person_on and (personal or self._person_container(container_key))
            for k in names:
                v = node[k]
                if person and self._value_matches(_E_PERSON, v):
                    hits.append((node, k, (loc, k), _E_PERSON, False, None, "field", None))
                elif len(v) > 5:
                    texts.append(v)
                    refs.append((node, k, loc))

    def _walk_list(
        self,
        node: list[Any],
        loc: Loc,
        container_key: str | None,
        sig: str | None,
        hits: list[_Hit],
        texts: list[str],
        refs: list[tuple[Any, Any, Loc]],
    ) -> None:
        if len(node) == 2 and _is_num(node[0]) and _is_num(node[1]):
            if self._geo_list(node, loc, sig, hits):
                return
        entity = sig if sig is not None and sig in self._recognizers else None
        i = 0
        for v in node:
            tv = type(v)
            if tv is str:
                if entity is not None and self._value_matches(entity, v):
                    hits.append((node, i, (loc, i), entity, self._spi(entity), None, "field", None))
                elif len(v) > 5:
                    texts.append(v)
                    refs.append((node, i, loc))
            elif tv is dict:
                self._walk_dict(v, (loc, i), container_key, hits, texts, refs)
            elif tv is list:
                self._walk_list(v, (loc, i), container_key, sig, hits, texts, refs)
            i += 1

    def _matcher(self, entity: str) -> Callable[[str], bool]:
        r = self._recognizers.get(entity)
        if r is not None:
            if self._native_walk is not None and _native_matcher is not None:
                # SSN, date of birth, card, North American phone, street address and e-mail
                # values in their common shapes answered in C (_cscan.value_matcher), the rest
                # by the same method.
                if entity == Entity.US_SSN:
                    return _native_matcher(1, r.match_value, _v.SSN_ADVERTISING)
                if entity == Entity.DATE_OF_BIRTH:
                    return _native_matcher(2, r.match_value, _v._YEAR_AT_IMPORT)
                if entity == _E_CARD:
                    return _native_matcher(3, r.match_value, None)
                if entity == Entity.PHONE:
                    return _native_matcher(5, r.match_value, None)
                if entity == _E_ADDRESS:
                    return _native_matcher(6, r.match_value, None)
                if entity == Entity.EMAIL:
                    return _native_matcher(7, r.match_value, None)
            return r.match_value
        cp = self._custom_by_field.get(entity)
        if cp is None:
            return _never

        def custom(value: str) -> bool:
            m = cp.regex.fullmatch(value.strip())
            return m is not None and (cp.validator is None or cp.validator(m.group()))

        return custom

    def _value_matches(self, entity: str, value: str) -> bool:
        r = self._recognizers.get(entity)
        if r is not None:
            return r.match_value(value)
        cp = self._custom_by_field.get(entity)
        if cp is not None:
            m = cp.regex.fullmatch(value.strip())
            return m is not None and (cp.validator is None or cp.validator(m.group()))
        return False

    def _spi(self, entity: str) -> bool:
        info = BUILTIN.get(entity)
        if info is not None:
            return info.spi
        return self._custom_info.get(entity, ("", False))[1]

    def _bare_int(self, node: Any, k: Any, loc: Loc, v: int, hits: list[_Hit]) -> None:
        r = self._recognizers.get(_E_CARD)
        if r is not None and r.match_at(str(v), 0, "") is not None:
            hits.append((node, k, (loc, k), _E_CARD, True, None, "pattern", None))

    def _geo_fields(
        self, node: dict[str, Any], loc: Loc, lat_k: str | None, lng_k: str | None, hits: list[_Hit]
    ) -> None:
        if _E_GEO not in self._enabled:
            return
        lat = _as_float(node[lat_k]) if lat_k is not None else None
        lng = _as_float(node[lng_k]) if lng_k is not None else None
        if lat is not None and lng is not None:
            if latlng_valid(lat, lng):
                precise = _decimals_at_least(node[lat_k], 4) or _decimals_at_least(node[lng_k], 4)  # type: ignore[index]
                hits.append((node, lat_k, loc, _E_GEO, precise, None, "field", lng_k))
            return
        # A lone coordinate is still location data, but never precise on its own.
        k = lat_k if lat is not None else lng_k if lng is not None else None
        x = lat if lat is not None else lng
        if k is not None and x is not None and -180.0 <= x <= 180.0:
            hits.append((node, k, (loc, k), _E_GEO, False, None, "field", None))

    def _geo_list(self, node: list[Any], loc: Loc, sig: str | None, hits: list[_Hit]) -> bool:
        if _E_GEO not in self._enabled:
            return False
        x, y = node[0], node[1]
        a, b = float(x), float(y)
        if sig == fn.GEO_PAIR:
            # GeoJSON order is [lng, lat]; either order is a location.
            if latlng_valid(a, b) or latlng_valid(b, a):
                precise = _decimals_at_least(x, 4) or _decimals_at_least(y, 4)
                hits.append((None, None, loc, _E_GEO, precise, None, "field", node))
                return True
            return False
        # Unlabeled: two floats, one with >= 4 decimals and the other >= 2, so prices and
        # scores stay out. (Not both >= 4: a float prints without trailing zeros, so a
        # 4-6 decimal coordinate such as 39.6810 prints as 39.681.)
        if (
            type(x) is float
            and type(y) is float
            and (latlng_valid(a, b) or latlng_valid(b, a))
            and _decimals_at_least(x, 2)
            and _decimals_at_least(y, 2)
            and (_decimals_at_least(x, 4) or _decimals_at_least(y, 4))
        ):
            hits.append((None, None, loc, _E_GEO, True, None, "pattern", node))
            return True
        return False

    def _geo_value(
        self,
        node: dict[str, Any],
        k: str,
        loc: Loc,
        v: Any,
        hits: list[_Hit],
        texts: list[str],
        refs: list[tuple[Any, Any, Loc]],
    ) -> None:
        tv = type(v)
        if tv is str:
            precise = self._geo.value_precision(v) if _E_GEO in self._enabled else None
            if precise is not None:
                hits.append((node, k, (loc, k), _E_GEO, precise, None, "field", None))
            else:
                texts.append(v)
                refs.append((node, k, loc))
        elif tv is dict or tv is list:
            self._walk(v, (loc, k), k, fn.GEO_PAIR, hits, texts, refs)

    # ------------------------------------------------------------------ rewriting

    def _apply(self, root: Any, hits: list[_Hit], rules: ActionRules, base: Loc) -> tuple[Any, Annotations]:
        """Count ``hits`` into new annotations and apply their actions; returns (root, annotations)."""
        decide = self._decider(rules)
        get = decide.bound_get
        # The decider's caches, read inline: one dict lookup per finding instead of a call.
        cached_spi, cached_plain = decide.caches()
        tally = self._tally_fn
        # Most values hold one finding: group only the rare second finding of a value.
        single: dict[tuple[int, Any], _Hit]
        multi: dict[tuple[int, Any], list[_Hit]]
        drops: list[_Hit]
        if tally is not None:
            # _tally in C (_cscan.c): the same decisions, counts (the dicts built in the same
            # order, each sized once) and whole values masked; the hits that need more
            # (grouped rewrites, blocks, drops) come back in order.
            mask, redact, tokenize, block = _A_MASK, _A_REDACT, _A_TOKENIZE, _A_BLOCK
            masker = self._masker
            # (with_summary: the decision text too, when these kinds were counted last time)
            entities, categories, spi_n, actions, rest, text = tally(
                hits, cached_spi, cached_plain, get, _ACTION_VALUE, _A_ALLOW, mask, _E_GEO,
                masker.char if masker.native is not None else None, masker.keep_last, masker.shapes, self._mask_fn,
                masker.geo_decimals, True,
            )  # fmt: skip
            ann = Annotations(entities, categories, spi_n, actions, False, None, text)
            if not rest:
                # Every finding counted, allowed or rewritten in place: _rewrite would find
                # no group and no drop (the common case: no containers made for it)
                return root, ann
            single = {}
            multi = {}
            drops = []
            for h in rest:
                action = (cached_spi if h[4] else cached_plain)[h[3]][2]
                if action is mask or action is redact or action is tokenize:
                    parent = h[0]
                    gk = (id(parent) if parent is not None else id(h[7]), h[1])
                    first = single.get(gk)
                    if first is None:
                        single[gk] = h
                    else:
                        multi.setdefault(gk, [first]).append(h)
                elif action is block:
                    ann.blocked = True
                    ann.blocked_by = ann.blocked_by or h[3]
                else:
                    drops.append(h)
        else:
            ann = Annotations({}, {}, 0, {}, False, None)
            single = {}
            multi = {}
            drops = []
            self._tally(hits, get, cached_spi, cached_plain, ann, single, multi, drops)
        return self._rewrite(root, single, multi, drops, decide, ann, base), ann

    def _rewrite(
        self,
        root: Any,
        single: dict[tuple[int, Any], _Hit],
        multi: dict[tuple[int, Any], list[_Hit]],
        drops: list[_Hit],
        decide: _Decider,
        ann: Annotations,
        base: Loc,
    ) -> Any:
        """_apply's second half: rewrite each group of hits in its value, then drop."""
        if ann.blocked:
            return root
        cached_spi, cached_plain = decide.caches()
        for gk, h in single.items():
            group = multi.get(gk)
            if group is None and h[5] is not None and h[0] is not None:
                # The only finding inside a string (free text): splice its replacement in.
                parent, key = h[0], h[1]
                value = parent[key]
                if type(value) is str:
                    a, b = h[5]
                    d = (cached_spi if h[4] else cached_plain)[h[3]]
                    parent[key] = value[:a] + str(self._replace_scalar(value[a:b], h, d[2])) + value[b:]
                    continue
            root = self._rewrite_value(root, group or [h], decide)
        for h in drops:
            root = self._drop(root, h, base)
        return root

    def _tally(
        self,
        hits: list[_Hit],
        get: Callable[[_Hit], _Decision],
        cached_spi: dict[str, _Decision],
        cached_plain: dict[str, _Decision],
        ann: Annotations,
        single: dict[tuple[int, Any], _Hit],
        multi: dict[tuple[int, Any], list[_Hit]],
        drops: list[_Hit],
    ) -> None:
        """_apply's first loop (the reference of _cscan.tally): count every finding, mask whole
        values now, and sort the rest into ``single``/``multi`` groups, blocks and ``drops``."""
        # Findings per (entity, spi): each kind's decision in ``kinds`` and its count in
        # ``nums``, in order of first appearance, found by its index in one dict per spi
        # flag keyed by the entity (a str: its hash is cached, unlike a tuple's). A
        # decision holds an Action, whose hash is Enum's Python-level __hash__, so
        # decisions are not used as keys per finding.
        at_spi: dict[str, int] = {}
        at_plain: dict[str, int] = {}
        kinds: list[_Decision] = []
        nums: list[int] = []
        # Enum members as locals: attribute lookups on the Enum class are slow.
        allow, mask, redact, tokenize, block = _A_ALLOW, _A_MASK, _A_REDACT, _A_TOKENIZE, _A_BLOCK
        masker = self._masker
        geo = _E_GEO
        for h in hits:
            entity = h[3]
            hspi = h[4]
            at = at_spi if hspi else at_plain
            d = (cached_spi if hspi else cached_plain).get(entity)
            if d is None:
                d = get(h)
            i = at.get(entity)
            if i is None:
                at[entity] = len(nums)
                kinds.append(d)
                nums.append(1)
            else:
                nums[i] += 1
            action = d[2]
            if action is allow:
                continue
            parent = h[0]
            if action is mask and h[5] is None and h[7] is None and parent is not None:
                # A whole string value (decided by its field name or value pattern) is the
                # only finding in that value: mask it now, no grouping needed.
                value = parent[h[1]]
                if type(value) is str and entity != geo:
                    parent[h[1]] = masker.mask(value, entity)
                    continue
            extra = h[7]
            if action is mask and h[5] is None and type(extra) is str and type(parent) is dict and entity == geo:
                # A latitude/longitude pair in two fields (extra: the lng key), the only
                # finding on them: two floats rounded now, as _rewrite_value would.
                lat, lng = parent[h[1]], parent[extra]
                if type(lat) is float and type(lng) is float:
                    parent[h[1]] = masker.number(lat)
                    parent[extra] = masker.number(lng)
                    continue
            if action is mask or action is redact or action is tokenize:
                gk = (id(parent) if parent is not None else id(h[7]), h[1])
                first = single.get(gk)
                if first is None:
                    single[gk] = h
                else:
                    multi.setdefault(gk, [first]).append(h)
            elif action is block:
                ann.blocked = True
                ann.blocked_by = ann.blocked_by or entity
            else:
                drops.append(h)
        entities, categories, actions = ann.entities, ann.categories, ann.actions
        for k in range(len(kinds)):
            category, spi, action, entity = kinds[k]
            n = nums[k]
            # Annotations.add, inline (once per kind of finding and action).
            entities[entity] = entities.get(entity, 0) + n
            categories[category] = categories.get(category, 0) + n
            if spi:
                ann.spi += n
            av = _ACTION_VALUE[action]
            actions[av] = actions.get(av, 0) + n

    def _rewrite_value(self, root: Any, group: list[_Hit], decide: _Decider) -> Any:
        h0 = group[0]
        if h0[7] is not None:
            # Coordinate pairs: a [lat, lng] list (extra is the list) or two fields.
            action = decide.get(h0)[2]
            if isinstance(h0[7], list):
                pair = h0[7]
                for i in (0, 1):
                    pair[i] = self._replace_scalar(pair[i], h0, action)
            else:
                node = h0[0]
                node[h0[1]] = self._replace_scalar(node[h0[1]], h0, action)
                node[h0[7]] = self._replace_scalar(node[h0[7]], h0, action)
            return root
        parent, key = h0[0], h0[1]
        value = root if parent is None else parent[key]
        if h0[5] is not None and isinstance(value, str):
            new: Any = self._rewrite_string(value, group, decide, None)
        elif len(group) > 1 and isinstance(value, str) and any(h[5] is not None for h in group):
            new = self._rewrite_string(value, group, decide, None)
        else:
            new = self._replace_scalar(value, h0, decide.get(h0)[2])
        if parent is None:
            return new
        parent[key] = new
        return root

    def _rewrite_string(self, text: str, hits: list[_Hit], decide: _Decider, ann: Annotations | None) -> str:
        pieces: list[str] = []
        pos = 0
        if len(hits) > 1:
            hits = sorted(hits, key=_span_start)
        for h in hits:
            span = h[5] or (0, len(text))
            category, spi, action, _ = decide.get(h)
            if ann is not None:
                ann.add(h[3], category, spi, _ACTION_VALUE[action], 1)
                if action is _A_BLOCK:
                    ann.blocked = True
                    ann.blocked_by = ann.blocked_by or h[3]
            if action is _A_ALLOW or action is _A_BLOCK or span[0] < pos:
                continue
            pieces.append(text[pos : span[0]])
            part = text[span[0] : span[1]]
            if action is _A_DROP:
                action = _A_REDACT
            pieces.append(str(self._replace_scalar(part, h, action)))
            pos = span[1]
        pieces.append(text[pos:])
        return "".join(pieces)

    def _replace_scalar(self, value: Any, h: _Hit, action: Action) -> Any:
        entity = h[3]
        if action is _A_MASK:
            masker = self._masker
            if entity == _E_GEO:
                if _is_num(value):
                    return masker.number(value)
                if isinstance(value, str):
                    return _coarsen_text(value, self.config.mask)
            if isinstance(value, str):
                return masker.mask(value, entity)
            return masker.mask(_number_text(value), entity)
        if action is _A_REDACT or action is _A_DROP:
            category, _ = self._classify(entity, h[4])
            return redact_value(self.config.redact_placeholder, entity, category)
        if action is _A_TOKENIZE:
            if self._tokenizer is None:
                raise PiiError("a rule uses tokenize but tokenize.key is not configured.")
            text = value if isinstance(value, str) else _number_text(value)
            return self._tokenizer.tokenize(text, entity)
        return value

    def _drop(self, root: Any, h: _Hit, base: Loc) -> Any:
        if h[7] is not None and not isinstance(h[7], list):
            node = h[0]
            node.pop(h[1], None)
            node.pop(h[7], None)
            return root
        if isinstance(h[7], list):
            # Drop a [lat, lng] list: its holder is found from the location.
            loc = h[2]
            if loc is None or loc == base:
                return None
            holder = _resolve(root, loc[0], base)
            key = loc[1]
        else:
            holder, key = h[0], h[1]
        if holder is None:
            return None
        if isinstance(holder, dict):
            holder.pop(key, None)
        elif isinstance(holder, list) and 0 <= key < len(holder):
            # Keep indices stable for the other paths: a dropped element becomes null.
            holder[key] = None
        return root


class _Decider:
    """(category, spi, action, entity) per (entity, spi) for one rules object: rules are
    resolved once per kind of finding instead of once per finding."""

    __slots__ = ("_engine", "_plain", "_spi", "bound_get", "rules")

    def __init__(self, engine: Engine, rules: ActionRules) -> None:
        self._engine = engine
        self.rules = rules
        self._spi: dict[str, _Decision] = {}
        self._plain: dict[str, _Decision] = {}
        # get, bound once (a bound method object per read otherwise; a cycle the GC frees)
        self.bound_get: Callable[[_Hit], _Decision] = self.get

    def caches(self) -> tuple[dict[str, _Decision], dict[str, _Decision]]:
        """The (spi, non-spi) caches by entity, for callers that inline the lookup."""
        return self._spi, self._plain

    def get(self, h: _Hit) -> _Decision:
        cache = self._spi if h[4] else self._plain
        d = cache.get(h[3])
        if d is None:
            category, spi = self._engine._classify(h[3], h[4])
            d = (category, spi, self.rules.action_for(h[3], category, spi), h[3])
            cache[h[3]] = d
        return d


_Decision = tuple[str, bool, Action, str]

_ACTION_VALUE: Final[dict[Action, str]] = {a: a.value for a in Action}

# Builds a Finding from a ready tuple, without the named tuple's Python-level __new__.
_new_finding = tuple.__new__


def _span_start(h: _Hit) -> int:
    return h[5][0] if h[5] else 0


def _never(value: str) -> bool:
    return False


# (code, entity, value matcher, spi) for one key; see Engine._signal.
_Sig = tuple[int, str, Callable[[str], bool], bool]

# Key signal codes (see Engine._signal).
_NONE, _ENTITY, _LAT, _LNG, _PAIR, _NAME, _IGNORE = range(7)

_NUMERIC_OK = frozenset(
    {Entity.PHONE, Entity.US_SSN, _E_CARD, Entity.ABA_ROUTING, Entity.US_PASSPORT,
     Entity.US_DRIVER_LICENSE}
)  # fmt: skip

_NUMBER_IN_TEXT = re.compile(r"-?\d+\.\d+")


def _coarsen_text(text: str, options: MaskOptions) -> str:
    return _NUMBER_IN_TEXT.sub(lambda m: repr(round(float(m.group()), options.geo_decimals)), text)


def _decimals_at_least(x: Any, n: int) -> bool:
    """``decimals`` of a JSON number or string >= ``n`` (2 or 4), the float case mostly
    without ``repr`` (shortest round-trip digits, ~1 us per call).

    If ``repr(x)`` had fewer than ``n`` decimals, ``x`` would be the double nearest a
    multiple of 10**-(n-1), so ``x * 10**(n-1)`` would be within ~1e-10 of an integer
    (|x| < 1e6). A fractional part clearly away from 0 and 1 therefore proves >= ``n``
    decimals; anything closer is decided by ``repr`` as before.
    """
    if type(x) is float:
        f: float = x
        a = -f if f < 0.0 else f
        if 1e-4 <= a < 1e6:
            k = a * (10.0 if n == 2 else 1000.0 if n == 4 else 10.0 ** (n - 1))
            frac = k - float(int(k))
            if 1e-6 < frac < 0.999999:
                return True
        return decimals(repr(f)) >= n
    if type(x) is str:
        return decimals(x) >= n
    return False


def _resolve(root: Any, loc: Loc, base: Loc) -> Any:
    keys: list[Any] = []
    while loc is not None and loc != base:
        loc, key = loc
        keys.append(key)
    node = root
    keys.reverse()  # (not reversed(): mypyc cannot compile reversed() over list[Any])
    for key in keys:
        node = node[key]
    return node


Preview = Callable[[str, Any], str]

# The C helpers' types (cpragate.pii._cscan): walk, join_texts, map_hits, tally.
_Walk = Callable[[Any, Any, Loc, list[_Hit], list[str], list[Any], bool], None]
_Join = Callable[[list[str], list[Any], int, bool], tuple[str, list[int], list[tuple[int, int]], list[Any]] | None]
_MapHits = Callable[[list[tuple[int, int, str, bool]], list[int], list[Any], list[_Hit]], None]
_SCAN_NO_PATHS: Final = 32  # (scan_texts' flag: no value locations in its hits, as walk's paths=False)
_ScanTexts = Callable[
    [list[str], list[Any], int, bool, int, list[_Hit]], tuple[str, list[int], list[tuple[int, int]], list[Any]] | None
]
_Tally = Callable[..., tuple[dict[str, int], dict[str, int], int, dict[str, int], list[_Hit], str | None]]


try:
    # The walk in C (cpragate.pii._cscan, built from _cscan.c), loaded by cpragate._accel
    # only while it matches its source; otherwise (not built, stale, CPRAGATE_PURE=1) the
    # methods above. Its constants come from here, so both paths read the same ones.
    from cpragate.pii import _cscan

    _cscan.setup(_PERSONAL, _NUMERIC_OK, _E_ADDRESS, _E_PERSON, _E_GEO)
    _native_walk: _Walk | None = _cscan.walk
    _native_findings: Callable[..., list[Finding]] | None = _cscan.findings
    _native_join: _Join | None = _cscan.join_texts
    _native_map: _MapHits | None = _cscan.map_hits
    _native_scan_texts: _ScanTexts | None = _cscan.scan_texts
    _native_tally: _Tally | None = _cscan.tally
    _native_matcher: Callable[[int, Callable[[str], bool], Any], Callable[[str], bool]] | None = _cscan.value_matcher
    _native_sig_forget: Callable[[object], None] | None = _cscan.sig_forget
except ImportError:
    _native_walk = _native_findings = _native_join = _native_map = _native_tally = _native_matcher = None
    _native_scan_texts = None
    _native_sig_forget = None
