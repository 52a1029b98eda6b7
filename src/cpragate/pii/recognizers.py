"""One recognizer class per entity (presidio's layout, without its per-string cost).

A recognizer answers two questions:

* :meth:`Recognizer.match_value` -- a field name already says "this is an SSN"; is the
  whole value really one? (The validator kills false positives such as ``"N/A"``.)
* :meth:`Recognizer.match_at` -- the shared prefilter in :mod:`cpragate.pii.textscan`
  found a candidate at ``start`` in a string; is there an instance of this entity
  starting there, and where does it end? Each class holds one anchored regex for its
  entity, used only at candidate positions, plus its validator.

``context`` lists the words that must appear shortly before an ambiguous shape (a bare
9-digit number is an SSN only after "ssn"/"social security") and ``needs_context`` says
whether a pattern match alone is enough.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import ClassVar, Final

from cpragate.pii import validators as v

try:
    # PersonRecognizer._RUN's matches in C (_cscan.c), loaded by cpragate._accel only
    # while it matches its source; otherwise the regex, which gives the same spans.
    from cpragate.pii import _cscan

    _native_runs: Callable[[str, int, int], list[tuple[int, int]]] | None = _cscan.name_runs
    # PersonRecognizer.find whole (runs, cue and stop words, the cues before a run) in C,
    # once PersonRecognizer's words are handed over (end of this module).
    _native_find: Callable[[str, int, int], list[tuple[int, int]]] | None = _cscan.person_find
except ImportError:
    _native_runs = None
    _native_find = None
from cpragate.pii.categories import BUILTIN, Entity, EntityInfo

__all__ = [
    "RECOGNIZERS",
    "STREET_SUFFIX_WORDS",
    "AbaRoutingRecognizer",
    "CreditCardRecognizer",
    "DateOfBirthRecognizer",
    "EmailRecognizer",
    "GeolocationRecognizer",
    "IbanRecognizer",
    "IpAddressRecognizer",
    "PersonRecognizer",
    "PhoneRecognizer",
    "Recognizer",
    "StreetAddressRecognizer",
    "UsDriverLicenseRecognizer",
    "UsPassportRecognizer",
    "UsSsnRecognizer",
    "decimals",
]

Span = tuple[int, int]


def decimals(text: str) -> int:
    """Number of digits after the decimal point of a number's text (``"37.7749"`` -> 4)."""
    _head, dot, tail = text.partition(".")
    if not dot:
        return 0
    if tail.isdigit() and tail.isascii():
        return len(tail)
    n = 0
    for ch in tail:
        if not ch.isdigit():
            break
        n += 1
    return n


class Recognizer:
    """Base class: one entity, its category/SPI info, context words and validator."""

    entity: ClassVar[str]
    context: ClassVar[tuple[str, ...]] = ()
    info: EntityInfo

    def __init__(self) -> None:
        self.info = BUILTIN[self.entity]
        # One regex for all context words: a single C-level search instead of one
        # substring test per word.
        self._context_re = re.compile("|".join(map(re.escape, self.context))) if self.context else None

    def match_value(self, value: str) -> bool:
        """True if the whole ``value`` (under a telling field name) is this entity."""
        raise NotImplementedError

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        """The span of an instance starting at ``start`` in ``text``, or None.

        :param context: the lower-cased text shortly before ``start`` (same string value).
        """
        return None

    def has_context(self, context: str) -> bool:
        """True if one of the context words appears in ``context`` (already lower-cased)."""
        return bool(context) and self._context_re is not None and self._context_re.search(context) is not None


class EmailRecognizer(Recognizer):
    """E-mail addresses; found in text by expanding around each ``@`` (see textscan)."""

    entity = Entity.EMAIL

    # Local part: the RFC 5322 atext characters most systems accept, dots inside.
    _LOCAL_TAIL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
    # Domain: LDH labels, letters-only TLD of 2-24, not followed by more label characters.
    _DOMAIN = re.compile(
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
    )

    def match_value(self, value: str) -> bool:
        return v.email_valid(value.strip())

    def around_at(self, text: str, at: int) -> Span | None:
        """The address around the ``@`` at index ``at``, or None."""
        lo = max(0, at - 64)
        if at > 0 and text[at - 1] == "\n":
            # ``$`` also matches before a final newline: keep the regex for that case.
            m = self._LOCAL_TAIL.search(text, lo, at)
            if m is None:
                return None
            start = m.start()
        else:
            # The leftmost start of a 1-64 character local-part run ending at ``at`` (what
            # ``_LOCAL_TAIL.search`` finds), walked back in one pass instead of a search
            # that retries the run at every position before it.
            start = at
            local = _LOCAL_CHARS
            while start > lo and text[start - 1] in local:
                start -= 1
            if start == at:
                return None
        while start < at and text[start] in ".'":
            start += 1
        if start == at:
            return None
        d = self._DOMAIN.match(text, at + 1)
        if d is None:
            return None
        return start, d.end()


class PhoneRecognizer(Recognizer):
    """Phone numbers: NANP shapes, ``+``-international, optional extension.

    Accepted shapes: ``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``,
    ``+1 415 555 2671``, ``001-415-555-2671``, ``+44 20 7946 0958``, ``+49 30 9018200``
    (any grouping after a ``+`` country code, validated against libphonenumber's
    metadata), each optionally followed by ``x123``/``ext. 123``. A bare ``4155552671``
    counts only with context ("phone", "call", "mobile"...) or under a telling key,
    because ten-digit order and account ids look the same.
    """

    entity = Entity.PHONE
    context = ("phone", "call", "tel", "mobile", "cell", "reach", "text me", "fax", "contact",
               "number", "sms", "whatsapp", "dial")  # fmt: skip
    _SHAPE = re.compile(
        r"(?:\+\d{1,3}[\s.-]?|00\d[\s.-]?|1[\s.-])?"
        r"(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])"
        r"\d{2,4}(?:[\s.-]\d{2,4}){1,2}"
        r"(?:\s?(?:x|ext\.?\s?)\d{1,6})?(?![\w.-]*\d)"
    )
    # "+CC" and then groups of any length (subscriber numbers of 5-8 digits are common
    # outside North America); each group after the first needs a separator, so a long
    # digit run cannot be split in many ways (no backtracking blow-up).
    _INTL = re.compile(
        r"\+\d{1,3}[\s.-]?(?:\(\d{1,5}\)[\s.-]?)?\d{1,10}(?:[\s.-]\d{1,10}){0,5}"
        r"(?:\s?(?:x|ext\.?\s?)\d{1,6})?(?![\w.-]*\d)"
    )
    _BARE = re.compile(r"(?:\+?1)?\d{10}(?!\d)")

    def match_value(self, value: str) -> bool:
        s = value.strip()
        if not 7 <= len(s) <= 32 or _DIGIT.search(s) is None:
            return False
        return v.phone_valid(s)

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self._SHAPE.match(text, start)
        if m is not None and v.phone_valid(m.group()):
            return m.span()
        if text[start] == "+":
            m = self._INTL.match(text, start)
            if m is not None and v.phone_valid(m.group()):
                return m.span()
        m = self._BARE.match(text, start)
        if m is not None and self.has_context(context) and v.phone_valid(m.group()):
            return m.span()
        return None


class UsSsnRecognizer(Recognizer):
    """US Social Security numbers, ``123-45-6789`` or ``123 45 6789`` (same separator).

    Nine bare digits count only after a context word: random 9-digit ids pass the SSA
    area/group/serial rules far too often.
    """

    entity = Entity.US_SSN
    context = ("ssn", "social security", "social sec", "ss#", "ss #", "taxpayer")
    _SHAPE = re.compile(r"\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
    _BARE = re.compile(r"\d{9}(?!\d)")
    # A whole value: 9 ASCII digits, bare or with one kind of separator, and the SSA
    # area/group/serial rules of validators.ssn_valid in the regex (one C call).
    _VALUE = re.compile(r"(?!000|666|9)[0-9]{3}([- ]?)(?!00)[0-9]{2}\1(?!0000)[0-9]{4}")

    def match_value(self, value: str) -> bool:
        s = value.strip()
        return (
            len(s) <= 11
            and self._VALUE.fullmatch(s) is not None
            and s.replace("-", "").replace(" ", "") not in v.SSN_ADVERTISING
        )

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self._SHAPE.match(text, start)
        if m is not None and v.ssn_valid(m.group()):
            return m.span()
        m = self._BARE.match(text, start)
        if m is not None and self.has_context(context) and v.ssn_valid(m.group()):
            return m.span()
        return None


class CreditCardRecognizer(Recognizer):
    """Payment card numbers: 13-19 digits, grouped by spaces/dashes or contiguous.

    Luhn always; outside a telling field or "card" context the number must also start
    with a known issuer prefix (:func:`validators.card_brand_known`), which is what
    keeps Luhn-valid-by-chance order numbers out.
    """

    entity = Entity.CREDIT_CARD
    context = ("card", "visa", "mastercard", "amex", "discover", "cc", "credit", "debit", "pan")
    _SHAPE = re.compile(r"(?:\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5}|\d{13,19})(?![\d-])")

    def match_value(self, value: str) -> bool:
        s = value.strip()
        return len(s) <= 23 and self._SHAPE.fullmatch(s) is not None and v.luhn_valid(s)

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self._SHAPE.match(text, start)
        if m is None or not v.luhn_valid(m.group()):
            return None
        if v.card_brand_known(v.digits_of(m.group())) or self.has_context(context):
            return m.span()
        return None


class IbanRecognizer(Recognizer):
    """IBANs, electronic (``DE89370400440532013000``) or print format (groups of four)."""

    entity = Entity.IBAN
    _SHAPE = re.compile(
        r"[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?![A-Za-z0-9])"
    )

    def match_value(self, value: str) -> bool:
        return v.iban_valid(value.strip())

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self._SHAPE.match(text, start)
        if m is not None and v.iban_valid(m.group()):
            return m.span()
        return None


class AbaRoutingRecognizer(Recognizer):
    """ABA routing transit numbers: 9 digits with the 3-7-1 checksum, after context."""

    entity = Entity.ABA_ROUTING
    context = ("routing", "aba", "rtn", "transit", "bank")
    _SHAPE = re.compile(r"\d{9}(?!\d)")

    def match_value(self, value: str) -> bool:
        return v.aba_valid(value.strip())

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        if not self.has_context(context):
            return None
        m = self._SHAPE.match(text, start)
        if m is not None and v.aba_valid(m.group()):
            return m.span()
        return None


class IpAddressRecognizer(Recognizer):
    """IPv4 dotted quads and IPv6 in any RFC 5952 form (IPv6 via the ``:`` scan)."""

    entity = Entity.IP_ADDRESS
    _V4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.]*\d)")
    _V6 = re.compile(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")

    def match_value(self, value: str) -> bool:
        s = value.strip()
        if "," in s:
            return any(v.ip_valid(p.strip()) for p in s.split(","))
        return v.ip_valid(s)

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self._V4.match(text, start)
        if m is not None and v.ipv4_valid(m.group()):
            return m.span()
        return None

    def v6_at(self, text: str, start: int) -> Span | None:
        """An IPv6 address starting at ``start`` (the start of a hex/colon run), or None."""
        m = self._V6.match(text, start)
        if m is None:
            return None
        s = m.group().rstrip(".")
        if s.endswith(":") and not s.endswith("::"):
            s = s[:-1]
        # Timestamps ("10:15:30") have two colons and no "::"; addresses have "::" or 7.
        if "::" not in s and s.count(":") < 6:
            return None
        if v.ipv6_valid(s):
            return start, start + len(s)
        return None


class GeolocationRecognizer(Recognizer):
    """Latitude/longitude pairs. >= 4 decimals on either number = precise (SPI).

    In text (and string values) a pair is ``lat, lng`` with at least 3 decimals on one
    number and 2 on the other, so prices (``19.99, 5.49``) are not pairs; one side may
    have fewer because a number printed from a float loses its trailing zeros
    (``-48.6600`` prints as ``-48.66``). In JSON, pairs come from ``lat``/``lng`` keys or a
    2-number list under a location key, or an unlabeled 2-float list in range with >= 4
    decimals on one number and >= 2 on the other (see the engine).
    """

    entity = Entity.GEOLOCATION
    _PAIR = re.compile(r"(-?\d{1,2}\.(\d{2,}))\s*,\s*(-?\d{1,3}\.(\d{2,}))(?!\d|\.\d)")
    _LOOSE = re.compile(r"\s*\(?\s*(-?\d{1,3}(?:\.\d+)?)\s*[, ]\s*(-?\d{1,3}(?:\.\d+)?)\s*\)?\s*")

    def match_value(self, value: str) -> bool:
        return self.value_precision(value) is not None

    def value_precision(self, value: str) -> bool | None:
        """None if ``value`` is not a ``lat,lng`` pair; else whether it is precise."""
        m = self._LOOSE.fullmatch(value)
        if m is None:
            return None
        lat, lng = float(m[1]), float(m[2])
        if not v.latlng_valid(lat, lng):
            return None
        return max(decimals(m[1]), decimals(m[2])) >= 4

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self._PAIR.match(text, start)
        if m is None or max(len(m[2]), len(m[4])) < 3 or not v.latlng_valid(float(m[1]), float(m[3])):
            return None
        return m.span()

    @staticmethod
    def precise(text: str) -> bool:
        """Whether a matched pair text has >= 4 decimals on either number."""
        return any(decimals(p) >= 4 for p in text.split(","))


class DateOfBirthRecognizer(Recognizer):
    """Dates of birth: a plausible date under a birth-date field or after "born"/"DOB"."""

    entity = Entity.DATE_OF_BIRTH
    context = ("born", "birth", "dob", "d.o.b", "birthday", "b-day", "bday")
    # Four forms: ``1985-03-12``, ``03/12/1985``, ``March 12, 1985``, ``12 March 1985``.
    # Written with the first character taken by one class and each form's remainder
    # checked behind it, so ``sre`` skips to candidate characters in C instead of trying
    # the four forms at every position (same matches: tests compare with the plain
    # alternation, DATE_PLAIN).
    DATE = re.compile(
        r"[0-9ADFJMNOS](?:"
        r"(?<=[0-9])[0-9]{3}-\d{1,2}-\d{1,2}(?!\d|T\d)"
        r"|(?<=[0-9])\d?[/.-]\d{1,2}[/.-]\d{4}(?!\d)"
        r"|(?:(?<=J)an|(?<=F)eb|(?<=M)ar|(?<=A)pr|(?<=M)ay|(?<=J)un|(?<=J)ul|(?<=A)ug|(?<=S)ep|(?<=O)ct"
        r"|(?<=N)ov|(?<=D)ec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"
        r"|(?<=[0-9])\d?(?:st|nd|rd|th)? (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?,? \d{4}"
        r")"
    )
    DATE_PLAIN = re.compile(
        r"\d{4}-\d{1,2}-\d{1,2}(?!\d|T\d)|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}(?!\d)"
        r"|(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4}"
        r"|\d{1,2}(?:st|nd|rd|th)? (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?,? \d{4}"
    )

    def match_value(self, value: str) -> bool:
        return v.dob_plausible(value)

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        if not self.has_context(context):
            return None
        m = self.DATE.match(text, start)
        if m is not None and v.dob_plausible(m.group()):
            return m.span()
        return None


class UsDriverLicenseRecognizer(Recognizer):
    """US driver's license numbers, by field name or after "driver's license"/"DL".

    State formats differ (AAMVA DL/ID standard, Annex D): one or two letters and 4-14
    digits (CA ``A1234567``, FL ``A123-456-78-901-0``) or 7-12 digits (NY, TX).
    """

    entity = Entity.US_DRIVER_LICENSE
    context = ("driver", "licen", "dl#", "dl:", "dl ", "dl no", "dln")
    _SHAPE = re.compile(r"(?:[A-Z]{1,2}\d{4,14}|[A-Z]\d{3}-\d{3}-\d{2}-\d{3}-\d|\d{7,12})(?![\w-])")

    # Upper-cased whole value: letters, digits, inner spaces/dashes, at least one digit.
    _VALUE = re.compile(r"(?=[A-Z -]*[0-9])[A-Z0-9][A-Z0-9 -]*[A-Z0-9]")

    def match_value(self, value: str) -> bool:
        s = value.strip().upper()
        return 4 <= len(s) <= 20 and self._VALUE.fullmatch(s) is not None

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        if not self.has_context(context):
            return None
        m = self._SHAPE.match(text, start)
        return m.span() if m is not None else None


class UsPassportRecognizer(Recognizer):
    """US passport numbers (9 digits, or a letter and 8 digits), by field name or context."""

    entity = Entity.US_PASSPORT
    context = ("passport",)
    _SHAPE = re.compile(r"(?:[A-Z]\d{8}|\d{9})(?![\w-])")

    def match_value(self, value: str) -> bool:
        s = value.strip().upper()
        if not (6 <= len(s) <= 12 and s.isalnum()):
            return False
        if s.isascii():
            return len(s) - len(s.encode().translate(None, _DIGIT_BYTES)) >= 5
        return sum(c.isdigit() for c in s) >= 5

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        if not self.has_context(context):
            return None
        m = self._SHAPE.match(text, start)
        return m.span() if m is not None else None


# Words that introduce a name (PersonRecognizer.CUES), as the lower-cased text just before
# a capitalized run.
NAME_CUES = ("my name is", "name is", "name:", "dear", "hi", "hello", "mr.", "mrs.", "ms.",
            "dr.", "mr", "mrs", "ms", "dr", "regards,", "sincerely,", "thanks,", "thank you,",
            "cheers,", "best,", "signed,", "signed", "i am", "i'm", "this is", "spoke with",
            "named", "customer", "contact", "agent", "from", "by", "for", "with", "to",
            "cc:", "attn:", "attn", "-", "\u2014")  # fmt: skip


class PersonRecognizer(Recognizer):
    """Person names: any plausible name under a name field; in free text, best effort.

    Free text: two or three capitalized words after a cue ("my name is", "Dear",
    "Mr.", "regards,", "name:", "customer") -- precise but with limited recall,
    measured in docs/pii.md. No NER model is used (none ships in a wheel we can rely on).
    """

    entity = Entity.PERSON
    _VALUE = re.compile(r"[^\W\d_](?:[^\W\d_]|['.\-])*(?: [^\W\d_](?:[^\W\d_]|['.\-])*){0,4}")
    # Words that introduce a name, as the lower-cased text just before a capitalized run.
    CUES = NAME_CUES
    # Cue words that are themselves capitalized at a sentence start ("Dear Jane").
    CUE_WORDS = frozenset({"dear", "hi", "hello", "mr", "mrs", "ms", "dr", "customer",
                           "contact", "agent", "attn", "thanks", "regards", "sincerely",
                           "cheers", "best", "signed"})  # fmt: skip
    # Any of these in the lower-cased text turns the name search on.
    GATE = ("name", "dear", "hi ", "hello", "mr", "ms", "dr.", "regards", "sincerely",
            "thanks", "thank you", "cheers", "best,", "signed", "i am", "i'm", "this is",
            "spoke", "customer", "contact", "agent", "attn")  # fmt: skip
    _RUN = re.compile(
        r"[A-Z](?<![\w][A-Z])[a-z]+(?:[-'][A-Z]?[a-z]+)?"
        r"(?:[ \t](?:[A-Z]\.[ \t])?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){0,3}"
    )
    _WORD = re.compile(r"\S+")
    # Capitalized words that follow the cues but are not names.
    STOP = frozenset(
        {"The", "This", "That", "There", "Team", "Support", "Customer", "Service", "All",
         "Sir", "Madam", "Everyone", "Again", "Thanks", "Thank", "Regards", "Please", "Hello",
         "Hi", "Dear", "Sincerely", "Best", "Cheers", "Order", "Account", "Card", "Monday",
         "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January",
         "February", "March", "April", "May", "June", "July", "August", "September",
         "October", "November", "December", "I", "We", "You", "It", "My", "Your", "Our",
         "Not", "Just", "So", "Here", "Today", "Yesterday", "Tomorrow", "Also", "Still",
         "Writing", "Following", "Looking", "Calling", "Contact", "Agent", "Name", "Email",
         "Phone", "Address", "Billing", "Shipping", "Refund", "Ticket", "Issue", "Help",
         "Mr", "Mrs", "Ms", "Dr", "Attn", "Signed", "Street", "Avenue", "Road", "Apt",
         "Suite", "Unit", "He", "She", "They", "Can", "Could", "Would", "Will", "Is", "Are",
         "Was", "Do", "Did", "If", "When", "What", "Why", "How", "Where", "Who", "And", "But",
         "Or", "As", "At", "In", "On", "Of", "For", "From", "By", "With", "To", "Hey", "Ok",
         "Yes", "No", "Thx", "Inc", "Llc", "Ltd", "Corp", "Company", "Bank", "Visa",
         "Mastercard", "Amex", "Discover", "Express", "American", "Iban", "Ssn", "Dob", "Ip"}
    )  # fmt: skip

    def match_value(self, value: str) -> bool:
        s = value.strip()
        if not 2 <= len(s) <= 80:
            return False
        if s.isascii():
            # _VALUE for ASCII, with C string methods (the regex's grouped repeats cost
            # ~10x more): 1-5 words split by single spaces, each starting with a letter
            # and made of letters and ' . - after it.
            if not s[0].isalpha() or s[-1] == " " or s.count(" ") > 4:
                return False
            if "  " in s or " '" in s or " ." in s or " -" in s:
                return False
            # bytes.translate deletes in one C loop (str.translate looks each character
            # up in a dict); bytes.isalpha is str.isalpha for ASCII.
            return s.encode().translate(None, _NAME_PUNCT_BYTES).isalpha()
        return self._VALUE.fullmatch(s) is not None

    def find(self, text: str, start: int = 0, end: int | None = None, native: bool = True) -> list[Span]:
        """Spans of names after cue words in ``text[start:end]`` (best effort).

        :param native: find the spans in C when _cscan is loaded (``_cscan.person_find``;
            False: the code below with :attr:`_RUN`, the reference; both give the same spans).
        """
        stop_at = len(text) if end is None else end
        if native and _native_find is not None and type(self) is PersonRecognizer:
            return _native_find(text, start, stop_at)
        out: list[Span] = []
        cues = _CUES_BY_LAST
        cue_words = self.CUE_WORDS
        stop = self.STOP
        if native and _native_runs is not None:
            runs = _native_runs(text, start, stop_at)
        else:
            runs = [m.span() for m in self._RUN.finditer(text, start, stop_at)]
        for s0, e0 in runs:
            run = text[s0:e0]
            if " " not in run and "\t" not in run:
                # One word (most runs: a sentence's first word). The general case below
                # reduced to what can apply to one word: a cue or stop word alone is
                # nothing; otherwise a strong cue must come right before it.
                if run in stop or run.lower() in cue_words:
                    continue
                before = text[max(0, s0 - 14) : s0].lower().rstrip()
                if _cued(before, cues) and not before.endswith(_WEAK_CUES):
                    out.append((s0, e0))
                continue
            # _RUN separates words by exactly one space or tab, so a split gives the
            # words and their offsets without a regex per run.
            words = run.replace("\t", " ").split(" ")
            i, n = 0, len(words)
            cued = False
            while i < n and words[i].lower().rstrip(".,:") in cue_words:
                cued = True
                i += 1
            while i < n and words[i] in stop:
                i += 1
            while n > i and words[n - 1] in stop:
                n -= 1
            if i >= n:
                continue
            if not cued:
                before = text[max(0, s0 - 14) : s0].lower().rstrip()
                if not _cued(before, cues):
                    continue
                # "for"/"to"/"by"/"with"/"from" are weak cues: need two words.
                if n - i < 2 and before.endswith(_WEAK_CUES):
                    continue
            first = s0 + sum(len(w) + 1 for w in words[:i])
            last = first + sum(len(w) + 1 for w in words[i:n]) - 1
            out.append((first, last))
        return out


_WEAK_CUES = ("for", "with", "to", "by", "from", "-")

# PersonRecognizer.CUES by last character: ``before.endswith(CUES)`` compares all 38 cues;
# only those ending in ``before``'s last character can match.
_CUES_BY_LAST: dict[str, tuple[str, ...]] = {}
for _cue in NAME_CUES:
    _CUES_BY_LAST[_cue[-1]] = (*_CUES_BY_LAST.get(_cue[-1], ()), _cue)


if _native_find is not None:
    _cscan.person_words(PersonRecognizer().STOP, PersonRecognizer().CUE_WORDS, NAME_CUES, _WEAK_CUES)


def _cued(before: str, cues: dict[str, tuple[str, ...]]) -> bool:
    """``before.endswith(NAME_CUES)``."""
    if not before:
        return False
    c = cues.get(before[-1])
    return c is not None and before.endswith(c)


# USPS Publication 28, Appendix C1 street suffixes (primary names and common abbreviations).
_SUFFIXES = (
    "Alley Annex Arcade Avenue Bayou Beach Bend Bluffs? Bottom Boulevard Branch Bridge Brooks? "
    "Burgs? Bypass Camp Canyon Cape Causeway Centers? Circles? Cliffs? Club Commons? Corners? "
    "Course Courts? Coves? Creek Crescent Crest Crossing Crossroads? Curve Dale Dam Divide "
    "Drives? Estates? Expressway Extensions? Falls? Ferry Fields? Flats? Fords? Forest Forges? "
    "Forks? Fort Freeway Gardens? Gateway Glens? Greens? Groves? Harbors? Haven Heights Highway "
    "Hills? Hollow Inlet Islands? Isle Junctions? Keys? Knolls? Lakes? Land Landing Lane "
    "Lights? Loaf Locks? Lodge Loop Mall Manors? Meadows? Mews Mills? Mission Motorway Mount "
    "Mountains? Neck Orchard Oval Overpass Parks? Parkways? Pass Passage Path Pike Pines? Place "
    "Plains? Plaza Points? Ports? Prairie Radial Ramp Ranch Rapids? Rest Ridges? River Roads? "
    "Route Row Rue Run Shoals? Shores? Skyway Springs? Spurs? Squares? Station Stravenue Stream "
    "Streets? Summit Terrace Throughway Trace Track Trafficway Trail Trailer Tunnel Turnpike "
    "Underpass Unions? Valleys? Via Viaduct Views? Villages? Ville Vista Walks? Wall Ways? Wells? "
    "St Ave Av Blvd Rd Dr Ln Ct Pl Sq Ter Cir Pkwy Hwy Trl Pt Cres Ctr Expy Fwy"
).split()
# The words StreetAddressRecognizer.TEXT's suffix alternation matches: each "Xs?" as "X"
# and "Xs" (the C matcher, _cscan.address_at, is handed these; tests compare it with TEXT).
STREET_SUFFIX_WORDS: Final = tuple(
    sorted({w for s in _SUFFIXES for w in ((s[:-2], s[:-1]) if s.endswith("s?") else (s,))})
)


class StreetAddressRecognizer(Recognizer):
    """Street addresses: any non-empty address-like value under an address field; in
    text, a house number, 1-4 capitalized words and a USPS street suffix, optionally a
    unit (``Apt. 4``, ``Suite 200``) and ``City, ST 12345``."""

    entity = Entity.STREET_ADDRESS
    TEXT = re.compile(
        r"\d{1,6}(?:\s[A-Z][A-Za-z'.-]*){1,4}?\s(?:" + "|".join(_SUFFIXES) + r")\b\.?"
        r"(?:,?\s(?:Apt\.?|Suite|Unit|Ste\.?|#)\s?[\w-]{1,6})?"
        r"(?:,?\s[A-Z][A-Za-z.'-]*(?:\s[A-Z][A-Za-z.'-]*){0,3},\s[A-Z]{2}\s\d{5}(?:-\d{4})?)?"
    )

    def match_value(self, value: str) -> bool:
        s = value.strip()
        if not 3 <= len(s) <= 300:
            return False
        if s.isascii():
            return _ASCII_LETTER.search(s) is not None
        return any(c.isalpha() for c in s)

    def match_at(self, text: str, start: int, context: str) -> Span | None:
        m = self.TEXT.match(text, start)
        return m.span() if m is not None else None


_ASCII_LETTER = re.compile(r"[A-Za-z]")
# EmailRecognizer._LOCAL_TAIL's character class.
_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-")
_DIGIT = re.compile(r"\d")
# Characters bytes.translate deletes: the ASCII digits; what a name may hold besides
# letters (space ' . -).
_DIGIT_BYTES: Final = b"0123456789"
_NAME_PUNCT_BYTES: Final = b" '.-"

RECOGNIZERS: dict[str, type[Recognizer]] = {
    cls.entity: cls
    for cls in (
        EmailRecognizer, PhoneRecognizer, UsSsnRecognizer, CreditCardRecognizer,
        IbanRecognizer, AbaRoutingRecognizer, IpAddressRecognizer, GeolocationRecognizer,
        DateOfBirthRecognizer, UsDriverLicenseRecognizer, UsPassportRecognizer,
        PersonRecognizer, StreetAddressRecognizer,
    )
}  # fmt: skip
