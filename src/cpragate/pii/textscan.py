"""Theory of operation: one cheap prefilter pass, validators only on candidates.

Running every recognizer's regex over every string costs ~240 us per KB in CPython
(DESIGN.md). Here a document's string values are joined with NUL (which no pattern
crosses) and scanned once by :data:`_CAND`, a regex whose first item is a character
class, so CPython's ``sre`` skips non-candidate characters in C (about 4 ns/char).
A candidate is a *token start*: a digit, ``+`` or ``(`` run of at least 7 characters
(phones, SSNs, cards, IPv4, coordinates), a decimal followed by ``,`` and a number
(coordinate pairs with a short latitude), an uppercase letter followed by digits (IBAN,
license and passport numbers), or a house number followed by a capitalized word
(addresses). ISO timestamps are rejected inside the regex, since they are the most
common digit runs in API payloads. Each candidate is then offered to the entity
recognizers in a fixed order; each re-matches its own anchored regex at that position
and runs its validator.

Three entities have their own cheaper trigger: e-mail (expanded around each ``@``),
IPv6 (around each ``x:y:`` group), and, gated by cue words in the lower-cased text,
dates of birth and person names. Custom recognizers run one ``finditer`` each.

Rules:
* Findings never overlap: longer spans win, then earlier ones.
* Spans are offsets into the scanned text; the engine maps them back to values.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from cpragate.pii.categories import Entity
from cpragate.pii.recognizers import (
    STREET_SUFFIX_WORDS,
    AbaRoutingRecognizer,
    CreditCardRecognizer,
    DateOfBirthRecognizer,
    EmailRecognizer,
    GeolocationRecognizer,
    IbanRecognizer,
    IpAddressRecognizer,
    PersonRecognizer,
    PhoneRecognizer,
    Recognizer,
    StreetAddressRecognizer,
    UsDriverLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
    _native_find,
)

try:
    # The prefilter in C (_cscan.c), loaded by cpragate._accel only while it matches its
    # source; otherwise (not built, stale, CPRAGATE_PURE=1) _candidates_py below, which
    # gives the same tuples.
    from cpragate.pii import _cscan

    _native_candidates: Callable[[str], list[tuple[int, int, int, int, int, int]]] | None = _cscan.candidates
    _native_dob_gate: Callable[[str, int, int], bool] | None = _cscan.dob_gate
    _native_dates: Callable[[str, int, int], list[tuple[int, int]]] | None = _cscan.date_matches
    _native_non_overlapping: Callable[[list[tuple[int, int, str, bool]]], list[tuple[int, int, str, bool]]] | None = (
        _cscan.non_overlapping
    )
    # StreetAddressRecognizer.match_at's TEXT.match in C, with the same suffix words.
    _cscan.street_suffixes(STREET_SUFFIX_WORDS)
    _native_address: Callable[[str, int], tuple[int, int] | None] | None = _cscan.address_at
except ImportError:
    _native_candidates = None
    _native_dob_gate = None
    _native_dates = None
    _native_non_overlapping = None
    _native_address = None

__all__ = ["NATIVE", "Candidate", "CustomPattern", "Hit", "TextScanner"]

# Enum members as module globals: an attribute lookup on an Enum class costs ~10x a
# global lookup in CPython 3.11, and these are read per value and per finding.
_E_ADDRESS = Entity.STREET_ADDRESS
_E_DOB = Entity.DATE_OF_BIRTH
_E_EMAIL = Entity.EMAIL
_E_GEO = Entity.GEOLOCATION
_E_IP = Entity.IP_ADDRESS
_E_PERSON = Entity.PERSON

# (start, end, entity, spi)
Hit = tuple[int, int, str, bool]

# (start, end, kind, dots, n, ctx_lo): one prefilter match; see _candidates_py.
Candidate = tuple[int, int, int, int, int, int]

NATIVE: bool = _native_candidates is not None
"""True when the C prefilter (cpragate.pii._cscan) is loaded."""

SEP = "\x00"

_CAND = re.compile(
    r"[0-9A-Z+(]"
    # a token start: the character before is not a letter, digit or underscore
    r"(?<![0-9A-Za-z_][0-9A-Z+(])"
    r"(?:"
    r"(?<=[A-Z])[A-Z]?[0-9]{2}[0-9A-Z -]{4,}"
    r"|(?<=[+(0-9])(?!\d{3}-\d\d-\d\dT)[0-9 ().+/\-]{5,}[0-9]"
    r"|(?<=[0-9])[0-9]{0,5}\s[A-Z][a-z]"
    # a short decimal followed by a comma and another number: a "lat, lng" pair whose
    # first number is too short for the run above ("4.2116, -31.9025")
    r"|(?<=[0-9])[0-9]{0,2}\.[0-9]{2,}\s*,\s*-?[0-9]"
    r")"
)
# "::" or three colons: timestamps ("10:15:30") have two colons and never trigger this.
_COLON_GROUP = re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:")
# Context words for dates of birth; every alternative starts with b or d, so sre's
# first-character skip applies.
_DOB_GATE = re.compile(r"born|birth|bday|b-day|dob|d\.o\.b")
_HEXCOLON = frozenset("0123456789abcdefABCDEF:")
# Deletes phone/number separators; every ASCII character has an entry, since
# str.translate raises and clears a KeyError for each missing one.
_SEPS: dict[int, int | None] = {i: (None if chr(i) in " ().+/-" else i) for i in range(128)}
_SEP_BYTES = b" ().+/-"  # (bytes.translate deletes them in one C loop, no lookups)
_CONTEXT_CHARS = 48
_SEP_COUNT = re.compile(r"[ ().+/\-]")


def _candidates_py(text: str) -> list[Candidate]:
    """The prefilter's candidates, classified (the reference the C version must equal).

    One tuple per match of :data:`_CAND`, in order: ``(start, end, kind, dots, n,
    ctx_lo)``. ``kind`` is the alternative that matched: 1 letter-led, 2 digit/``+``/``(``
    run, 3 house number + capitalized word, 4 short decimal + comma + number. For kinds 2
    and 4, ``dots`` counts the dots in the match and ``n`` its characters other than the
    separators `` ().+/-`` (0 otherwise). ``ctx_lo`` is where :func:`_context`'s window
    starts.
    """
    out: list[Candidate] = []
    for m in _CAND.finditer(text):
        s, e = m.span()
        lo = max(0, s - _CONTEXT_CHARS)
        vs = text.rfind(SEP, lo, s)
        if vs != -1:
            lo = vs + 1
        if "A" <= text[s] <= "Z":
            out.append((s, e, 1, 0, 0, lo))
        elif "a" <= text[e - 1] <= "z":
            out.append((s, e, 3, 0, 0, lo))
        else:
            cand = text[s:e]
            n = e - s - len(_SEP_COUNT.findall(cand))
            out.append((s, e, 4 if "," in cand else 2, cand.count("."), n, lo))
    return out


class CustomPattern:
    """A compiled custom recognizer (see :class:`~cpragate.pii.config.CustomRecognizerConfig`)."""

    __slots__ = ("context", "entity", "regex", "spi", "validator")

    def __init__(
        self,
        entity: str,
        regex: re.Pattern[str],
        validator: Callable[[str], bool] | None,
        context: tuple[str, ...],
        spi: bool,
    ) -> None:
        self.entity = entity
        self.regex = regex
        self.validator = validator
        self.context = context
        self.spi = spi


class TextScanner:
    """Finds entities inside text. Built once per engine; stateless per call."""

    def __init__(
        self,
        enabled: frozenset[str],
        custom: list[CustomPattern],
        names_in_text: bool,
        native: bool = True,
    ) -> None:
        """:param native: use the C prefilter when it is loaded (False: the Python reference)."""
        self.enabled = enabled
        self._candidates: Callable[[str], list[Candidate]] = (
            _native_candidates if native and _native_candidates is not None else _candidates_py
        )
        self._native = native
        self.custom = custom
        self.names_in_text = names_in_text and _E_PERSON in enabled
        self.email = EmailRecognizer()
        self.phone = PhoneRecognizer()
        self.ssn = UsSsnRecognizer()
        self.card = CreditCardRecognizer()
        self.iban = IbanRecognizer()
        self.aba = AbaRoutingRecognizer()
        self.ip = IpAddressRecognizer()
        self.geo = GeolocationRecognizer()
        self.dob = DateOfBirthRecognizer()
        self.dl = UsDriverLicenseRecognizer()
        self.passport = UsPassportRecognizer()
        self.person = PersonRecognizer()
        self.address = StreetAddressRecognizer()

        def on(r: Recognizer) -> bool:
            return r.entity in enabled

        # Numeric candidates are offered in this order; the first hit wins.
        self._by_digits: dict[int, list[Recognizer]] = {}
        for n in range(7, 20):
            order: list[Recognizer] = []
            if n == 9:
                order += [self.ssn, self.aba, self.passport, self.dl]
            if 13 <= n <= 19:
                order.append(self.card)
            if 10 <= n <= 15 or n == 7:
                order.append(self.phone)
            if 7 <= n <= 12 and n != 9:
                order.append(self.dl)
            if n == 9:
                order.append(self.phone)
            self._by_digits[n] = [r for r in order if on(r)]
        self._letter_led: list[Recognizer] = [r for r in (self.iban, self.dl, self.passport) if on(r)]
        self._ipv4 = on(self.ip)
        self._geo = on(self.geo)
        self._addr = on(self.address)
        # TEXT.match in C when loaded (the same spans; the recognizer's match_at otherwise)
        self._address_at = _native_address if native else None
        # PersonRecognizer.find's native path, called directly (one call less per sentence)
        self._person_find = _native_find if native else None
        self._email = on(self.email)
        self._dob = on(self.dob)
        self.fast_flags: int = (
            (self._addr * 1) | (self._dob * 2) | (self.names_in_text * 4) | (self._email * 8) | (self._ipv4 * 16)
            if native and not custom and _native_candidates is not None and self._address_at is not None
            and self._person_find is not None and _native_dob_gate is not None and _native_non_overlapping is not None
            else -1
        )
        """For ``_cscan.scan_texts``: which passes :meth:`scan` makes (addresses 1, dates of
        birth 2, names in free text 4, e-mail 8, IP addresses 16), so the C code can tell
        whether a text needs none but those it has (prose and addresses); -1: never (the
        Python reference, custom patterns, or the C helpers not loaded)."""

    def scan(self, text: str, prose: list[tuple[int, int]] | None = None) -> list[Hit]:
        """All non-overlapping findings in ``text`` (may be NUL-joined values).

        :param prose: ``(start, end)`` ranges of values that read like sentences; the
            context-driven passes (names, dates of birth) run only there. None = all.
        """
        hits: list[Hit] = []
        add = hits.append
        for s, _end, kind, dots, n, lo in self._candidates(text):
            if kind == 1:
                ctx = None
                for r in self._letter_led:
                    if r is not self.iban and ctx is None:
                        ctx = text[lo:s].lower()
                    span = r.match_at(text, s, ctx or "")
                    if span is not None:
                        add((span[0], span[1], r.entity, r.info.spi))
                        break
                continue
            if kind == 3:
                if self._addr:
                    address_at = self._address_at
                    span = address_at(text, s) if address_at is not None else self.address.match_at(text, s, "")
                    if span is not None:
                        add((span[0], span[1], _E_ADDRESS, False))
                continue
            if dots == 3 and self._ipv4:
                span = self.ip.match_at(text, s, "")
                if span is not None:
                    add((span[0], span[1], _E_IP, False))
                    continue
            elif dots == 1 and self._geo:
                g = s - 1 if s > 0 and text[s - 1] == "-" else s
                span = self.geo.match_at(text, g, "")
                if span is not None:
                    precise = self.geo.precise(text[span[0] : span[1]])
                    add((span[0], span[1], _E_GEO, precise))
                    continue
            order = self._by_digits.get(n)
            if not order:
                if n > 19:
                    # A long run may hold several values ("card 4111 1111 1111 1111 exp 12 26").
                    order = self._by_digits[16] + self._by_digits[10]
                else:
                    continue
            ctx = text[lo:s].lower()
            for r in order:
                span = r.match_at(text, s, ctx)
                if span is not None:
                    add((span[0], span[1], r.entity, r.info.spi))
                    break
        if self._email and "@" in text:
            self._emails(text, add)
        if self._ipv4 and ":" in text:
            self._ipv6(text, add)
        if prose is None:
            prose = [(0, len(text))]
        if prose and (self._dob or self.names_in_text):
            # The birth-date gate in C for ASCII text (the C loop lower-cases as it reads);
            # otherwise _DOB_GATE over the lower-cased text (the reference).
            gate = _native_dob_gate if self._native and text.isascii() else None
            low = text.lower() if self._dob and gate is None else ""
            for a, b in prose:
                if self._dob and (gate(text, a, b) if gate is not None else _DOB_GATE.search(low, a, b) is not None):
                    self._dates(text, add, a, b)
                if self.names_in_text:
                    find = self._person_find
                    spans = find(text, a, b) if find is not None else self.person.find(text, a, b, self._native)
                    for s, e in spans:
                        add((s, e, _E_PERSON, False))
        for cp in self.custom:
            self._custom(cp, text, add)
        if len(hits) > 1:
            if self._native and _native_non_overlapping is not None:
                hits = _native_non_overlapping(hits)
            else:
                hits = _non_overlapping(hits)
        return hits

    def _emails(self, text: str, add: Callable[[Hit], None]) -> None:
        at = text.find("@")
        end = 0
        while at != -1:
            if at >= end:
                span = self.email.around_at(text, at)
                if span is not None:
                    add((span[0], span[1], _E_EMAIL, False))
                    end = span[1]
            at = text.find("@", at + 1)

    def _ipv6(self, text: str, add: Callable[[Hit], None]) -> None:
        pos = 0
        for m in _COLON_GROUP.finditer(text):
            s = m.start()
            if s < pos:
                continue
            while s > 0 and text[s - 1] in _HEXCOLON and m.start() - s < 40:
                s -= 1
            if s > 0 and (text[s - 1].isalnum() or text[s - 1] == "_"):
                continue
            span = self.ip.v6_at(text, s)
            if span is not None and not (span[1] < len(text) and text[span[1]].isalnum()):
                add((span[0], span[1], _E_IP, False))
                pos = span[1]

    def _dates(self, text: str, add: Callable[[Hit], None], a: int, b: int) -> None:
        # DATE's matches in C when _cscan is loaded (the same spans, tests compare them).
        if self._native and _native_dates is not None:
            spans = _native_dates(text, a, b)
        else:
            spans = [m.span() for m in self.dob.DATE.finditer(text, a, b)]
        for s, _e in spans:
            if s > 0 and text[s - 1].isalnum():
                continue
            span = self.dob.match_at(text, s, _context(text, s))
            if span is not None:
                add((span[0], span[1], _E_DOB, False))

    def _custom(self, cp: CustomPattern, text: str, add: Callable[[Hit], None]) -> None:
        for m in cp.regex.finditer(text):
            if cp.validator is not None and not cp.validator(m.group()):
                continue
            if cp.context:
                ctx = _context(text, m.start())
                if not any(w in ctx for w in cp.context):
                    continue
            add((m.start(), m.end(), cp.entity, cp.spi))


def _context(text: str, start: int) -> str:
    """Lower-cased text shortly before ``start``, within the same value."""
    lo = max(0, start - _CONTEXT_CHARS)
    vs = text.rfind(SEP, lo, start)
    if vs != -1:
        lo = vs + 1
    return text[lo:start].lower()


def _non_overlapping(hits: list[Hit]) -> list[Hit]:
    hits.sort(key=lambda h: (h[0], h[0] - h[1]))
    out: list[Hit] = []
    for h in hits:
        if out and h[0] < out[-1][1]:
            prev = out[-1]
            if h[1] - h[0] > prev[1] - prev[0]:
                out[-1] = h
            continue
        out.append(h)
    return out
