"""Checksum and structure validators that turn pattern candidates into findings.

Each validator takes the candidate text (separators allowed where the format allows
them) and answers True only for values that can really be of that kind. They are pure,
allocation-light functions: the engine calls them only on candidates a cheap prefilter
already found, never on every string.

``VALIDATORS`` maps the names custom recognizers may use (``validator: luhn``) to them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date

import phonenumbers

try:
    # e-mail validation in C (_cscan.c), loaded by cpragate._accel only while it matches
    # its source; otherwise _email_valid_py, which gives the same answers.
    from cpragate.pii import _cscan

    _native_email: Callable[[str], bool] | None = _cscan.email_valid
    _native_luhn: Callable[[str], bool] | None = _cscan.luhn_valid
    _native_mod97: Callable[[str], int] | None = _cscan.iban_mod97
    _native_digits: Callable[[str], str] | None = _cscan.digits_of
    _native_phone: Callable[[str], int] | None = _cscan.phone_nanp
    _native_ipv4: Callable[[str], bool] | None = _cscan.ipv4_valid
except ImportError:
    _native_email = None
    _native_luhn = None
    _native_mod97 = None
    _native_digits = None
    _native_phone = None
    _native_ipv4 = None

__all__ = [
    "VALIDATORS",
    "aba_valid",
    "card_brand_known",
    "digits_of",
    "dob_plausible",
    "email_valid",
    "iban_valid",
    "ip_valid",
    "ipv4_valid",
    "ipv6_valid",
    "latlng_valid",
    "luhn_valid",
    "parse_date",
    "phone_valid",
    "ssn_valid",
]

_NON_DIGITS = re.compile(r"[^0-9]+")


def digits_of(text: str) -> str:
    """The ASCII digits of ``text``, in order."""
    if _native_digits is not None:
        return _native_digits(text)
    return _digits_of_py(text)


def _digits_of_py(text: str) -> str:
    """digits_of's reference (the C version, _cscan.digits_of, must equal it)."""
    if text.isascii():
        if text.isdigit():
            return text
        # bytes.translate deletes in one C loop (str.translate looks each character up).
        return text.encode().translate(None, _NON_DIGIT_BYTES).decode()
    return _NON_DIGITS.sub("", text)


_NON_DIGIT_BYTES = bytes([i for i in range(128) if not 48 <= i <= 57])


# Luhn: the value a doubled digit contributes (d*2, minus 9 when > 9), as a byte per
# ASCII digit, so bytes.translate and sum() do all the per-digit work in C.
_LUHN_DOUBLE = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check of ISO/IEC 7812-1 over the digits of ``number``.

    Separators are ignored; 13 to 19 digits are required, the lengths of payment cards.
    """
    if _native_luhn is not None:
        return _native_luhn(number)
    return _luhn_valid_py(number)


def _luhn_valid_py(number: str) -> bool:
    """luhn_valid's reference (the C version, _cscan.luhn_valid, must equal it)."""
    digits = digits_of(number)
    if not 13 <= len(digits) <= 19:
        return False
    # Double every second digit from the right; a doubled digit > 9 contributes d*2-9.
    b = digits.encode("ascii")
    kept = b[-1::-2]
    total = sum(kept) - 48 * len(kept) + sum(b[-2::-2].translate(_LUHN_DOUBLE))
    return total % 10 == 0


def card_brand_known(digits: str) -> bool:
    """True if the number starts with an issuer prefix (IIN) of a major card network.

    Visa 4; Mastercard 51-55 and 2221-2720; Amex 34/37; Discover 6011, 644-649, 65;
    JCB 3528-3589; Diners 300-305, 36, 38, 39; UnionPay 62. A random Luhn-valid number
    passes 1 in 10; requiring an IIN keeps order ids and other long numbers out when no
    field name or context says "card".
    """
    if not digits:
        return False
    d1 = digits[0]
    if d1 == "4":
        return True
    p2 = int(digits[:2]) if len(digits) >= 2 else 0
    p4 = int(digits[:4]) if len(digits) >= 4 else 0
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return True
    if p2 in (34, 37, 36, 38, 39, 65, 62):
        return True
    p3 = p4 // 10
    return p4 == 6011 or 644 <= p3 <= 649 or 3528 <= p4 <= 3589 or 300 <= p3 <= 305


def ssn_valid(number: str) -> bool:
    """SSA rules for a US Social Security number (SSA POMS RM 10201.035, SSA-2011 randomization).

    Nine digits; area (first 3) not 000, 666 or 900-999; group (middle 2) not 00;
    serial (last 4) not 0000. Well-known advertising numbers (078-05-1120, 219-09-9999)
    are rejected too.
    """
    digits = digits_of(number)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in SSN_ADVERTISING


# Numbers printed on sample cards and in advertising, never valid for a person.
SSN_ADVERTISING = frozenset({"078051120", "219099999", "123456789"})


# Country -> total IBAN length, from the SWIFT IBAN Registry (release 99, 2024).
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip


def iban_valid(value: str) -> bool:
    """ISO 13616 IBAN: registry length for the country and the ISO 7064 mod 97-10 check.

    Spaces are allowed (print format groups of four); letters may be upper or lower case.
    """
    iban = value.replace(" ", "").upper()
    if len(iban) < 15 or not iban.isalnum() or not iban.isascii():
        return False
    expected = _IBAN_LENGTHS.get(iban[:2])
    if expected is None or len(iban) != expected or not iban[2:4].isdigit():
        return False
    # ISO 7064 mod 97-10 over the rearranged IBAN with letters as two digits (A = 10 ...
    # Z = 35), computed digit by digit: the same number as int() of the substituted
    # string, without building it (a translate that expands characters takes CPython's
    # slow path, one dict lookup per character) or a big integer.
    if _native_mod97 is not None:
        return _native_mod97(iban) == 1
    return _iban_mod97_py(iban) == 1


def _iban_mod97_py(iban: str) -> int:
    """iban_valid's mod 97-10 remainder (the C version, _cscan.iban_mod97, must equal it)."""
    total = 0
    for ch in iban[4:] + iban[:4]:
        c = ord(ch)
        if c >= 65:
            total = (total * 100 + c - 55) % 97
        else:
            total = (total * 10 + c - 48) % 97
    return total


def aba_valid(number: str) -> bool:
    """ABA routing transit number: 9 digits, valid Federal Reserve prefix, 3-7-1 checksum.

    The checksum is 3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) = 0 mod 10 (ABA Key to Routing
    Numbers). The first two digits are 00-12, 21-32, 61-72 or 80.
    """
    digits = digits_of(number)
    if len(digits) != 9 or len(number.strip()) != 9:
        return False
    prefix = int(digits[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    # The digits' ASCII codes, each 48 too high: 48 * (3*3 + 7*3 + 1*3) in all.
    d = digits.encode("ascii")
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]) - 48 * 33
    return total % 10 == 0


def _nanp_valid(national: str) -> bool:
    # NANP numbering plan: NPA (area code) and NXX (exchange) start with 2-9. N11 codes
    # (211, 411, 911...) are service codes and never assigned as an area code, but a
    # number written with them is still someone's phone field (test data, a typo, a
    # placeholder) and has the same shape, so they are not rejected.
    if len(national) != 10:
        return False
    return national[0] not in "01" and national[3] not in "01"


_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}\s*$", re.IGNORECASE)
# Characters every extension marker starts with; most numbers have none of them.
_EXT_CHAR = re.compile("[xXeE#]")


def _without_extension(text: str) -> str:
    """``_EXTENSION.sub("", text)`` for a stripped ``text``.

    ASCII text is read from the right with C string methods: the regex has no literal
    prefix, so ``sub`` tries it at every position (~1.5 us per phone with an extension,
    most of phone_valid). ``text`` is stripped, so ``\\s*$`` matches nothing; the 1-6 digits
    must be the whole trailing digit run; the marker is told by its last character; the
    match starts at the whitespace run before the marker (the leftmost start).
    """
    if not text.isascii():
        return _EXTENSION.sub("", text)
    head = text.rstrip("0123456789")
    if not 1 <= len(text) - len(head) <= 6:
        return text
    head = head.rstrip()
    low = head[-9:].lower()
    if low.endswith("extension"):
        cut = 9
    elif low.endswith("ext."):
        cut = 4
    elif low.endswith("ext"):
        cut = 3
    elif low.endswith("x") or low.endswith("#"):
        cut = 1
    else:
        return text
    return head[: len(head) - cut].rstrip()


def phone_valid(value: str, region: str = "US") -> bool:
    """A plausible phone number.

    North American numbers (no ``+`` or ``+1``/``1``/``001`` prefix) are checked against
    the NANP plan structure only (area code and exchange start with 2-9), because
    synthetic and newly assigned area codes are legitimate. Numbers with
    another ``+`` country code are validated against ``phonenumbers``' metadata (Google
    libphonenumber): the same answer as ``phonenumbers.is_valid_number``, with the
    region's patterns compiled once. An extension (``x123``) is allowed.
    """
    if _native_phone is not None and region == "US":
        # ASCII North American numbers in C (_cscan.phone_nanp, the same steps as below);
        # -1: international or non-ASCII, decided here.
        known = _native_phone(value)
        if known >= 0:
            return known == 1
    return _phone_valid_py(value, region)


def _phone_valid_py(value: str, region: str = "US") -> bool:
    """phone_valid's reference (_cscan.phone_nanp must agree where it answers)."""
    text = value.strip()
    if _EXT_CHAR.search(text) is not None:
        text = _without_extension(text)
    digits = digits_of(text)
    if text.startswith("+") and not text.startswith("+1"):
        return _intl_valid(text, digits)
    if text.startswith("+1") or text.startswith("001"):
        digits = digits[1:] if text.startswith("+1") else digits[3:]
    elif len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10:
        if region != "US" and 7 <= len(digits) <= 15:
            try:
                parsed = phonenumbers.parse(text, region)
            except phonenumbers.NumberParseException:
                return False
            return bool(phonenumbers.is_valid_number(parsed))
        return False
    return _nanp_valid(digits)


# Per region and national-number length: one compiled pattern that is the region's
# general description and any number type's description of that length (premium, toll
# free, fixed line, mobile...), built from phonenumbers' metadata on first use. This is
# the test ``phonenumbers.is_valid_number`` makes (general description, then a number
# type), but ``is_valid_number`` goes through ``re``'s cache, ten descriptions and
# object construction per call (~40 us per number); one fullmatch is ~1 us.
_VALIDITY: dict[tuple[str, int], re.Pattern[str] | None] = {}
_TYPE_FIELDS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
                "uan", "voicemail", "fixed_line", "mobile")  # fmt: skip


def _validity(region: str, length: int) -> re.Pattern[str] | None:
    key = (region, length)
    if key in _VALIDITY:
        return _VALIDITY[key]
    md = phonenumbers.PhoneMetadata.metadata_for_region(region)
    out = None
    g = md.general_desc if md is not None else None
    if g is not None and g.national_number_pattern and (not g.possible_length or length in g.possible_length):
        types = [
            d.national_number_pattern
            for f in _TYPE_FIELDS
            if (d := getattr(md, f, None)) is not None
            and d.national_number_pattern
            and (not d.possible_length or length in d.possible_length)
        ]
        if types:
            alt = "|".join(f"(?:{t})" for t in types)
            out = re.compile(f"(?=(?:{g.national_number_pattern})$)(?:{alt})")
    _VALIDITY[key] = out
    return out


def _intl_valid(text: str, digits: str) -> bool:
    # E.164: at most 15 digits; country codes (1-3 digits) are prefix-free.
    if 7 <= len(digits) <= 15:
        for n in (1, 2, 3):
            regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:n]))
            if regions is None:
                continue
            national = digits[n:]
            for region in regions:
                if region != "001":  # non-geographic entities: phonenumbers' own rules below
                    p = _validity(region, len(national))
                    if p is not None and p.fullmatch(national) is not None:
                        return True
            break
    # Not valid as written: let phonenumbers try (national prefixes such as "(0)",
    # non-geographic numbers); it can only say yes where the fast path said no.
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def ipv4_valid(value: str) -> bool:
    """Dotted-quad IPv4 with each octet 0-255 and no leading zeros (RFC 6943 §3.1.1)."""
    if _native_ipv4 is not None:
        return _native_ipv4(value)  # _IPV4's fullmatch in C (tests compare both)
    return _IPV4.fullmatch(value) is not None


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")

# RFC 4291 §2.2 text forms of pure hexadecimal groups (full, and "::" in any position).
_H = "[0-9A-Fa-f]{1,4}"
_IPV6_HEX = re.compile(
    rf"(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}"
    rf"|{_H}:(?::{_H}){{1,6}}|:(?:(?::{_H}){{1,7}}|:)"
)


def ipv6_valid(value: str) -> bool:
    """An IPv6 address in any RFC 4291/5952 text form.

    Hexadecimal forms are checked by one regex (every form it accepts is an address);
    anything else (an embedded IPv4 such as ``::ffff:192.0.2.1``, a zone id) is left to
    :mod:`ipaddress`, which is ~5x slower.
    """
    if ":" not in value or len(value) > 45:
        return False
    if _IPV6_HEX.fullmatch(value) is not None:
        return True
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def ip_valid(value: str) -> bool:
    """IPv4 or IPv6."""
    return ipv4_valid(value) or ipv6_valid(value)


# Local part and domain per the "practical" subset of RFC 5322 most APIs accept; the
# TLD must be letters only (2-24), which rejects "user@host.123" and version strings.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)


def email_valid(value: str) -> bool:
    """An e-mail address (whole value), RFC 5322 practical subset, max 254 characters."""
    if _native_email is not None:
        return _native_email(value)
    return _email_valid_py(value)


def _email_valid_py(value: str) -> bool:
    """email_valid's reference (the C version, _cscan.email_valid, must equal it)."""
    return len(value) <= 254 and _EMAIL.fullmatch(value) is not None


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}  # fmt: skip

_DATE_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:T.*)?")
_DATE_US = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
_DATE_WORDS = re.compile(r"([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})")
_DATE_WORDS_DMY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})")


def parse_date(value: str) -> date | None:
    """Parse the date formats people and APIs use for birth dates, or None.

    Accepts ISO ``1985-03-12`` (also with a time part), US ``03/12/1985``, ``12.03.1985``
    read as month/day when the first number is <= 12 and day/month otherwise,
    ``March 12, 1985`` and ``12 March 1985``.
    """
    v = value.strip()
    y: int
    mo: int
    d: int
    if len(v) == 10 and v[4] == "-" and v[7] == "-" and v.isascii():
        # ``YYYY-MM-DD``, the usual API form: what _DATE_ISO would take, without the regex.
        ys, ms, ds = v[:4], v[5:7], v[8:]
        if ys.isdigit() and ms.isdigit() and ds.isdigit():
            try:
                return date(int(ys), int(ms), int(ds))
            except ValueError:
                return None
    if len(v) == 10 and v[2] in "-/." and v[5] in "-/." and v.isascii():
        # ``MM/DD/YYYY`` (or ``DD.MM.YYYY``): what _DATE_US would take, without the two
        # regexes (_DATE_ISO cannot match: its four digits would include a separator).
        a_s, b_s, ys = v[:2], v[3:5], v[6:]
        if a_s.isdigit() and b_s.isdigit() and ys.isdigit():
            a, b = int(a_s), int(b_s)
            mo, d = (a, b) if a <= 12 else (b, a)
            try:
                return date(int(ys), mo, d)
            except ValueError:
                return None
    if m := _DATE_ISO.fullmatch(v):
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := _DATE_US.fullmatch(v):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        mo, d = (a, b) if a <= 12 else (b, a)
    elif m := _DATE_WORDS.fullmatch(v):
        month = _MONTHS.get(m[1].lower())
        if month is None:
            return None
        mo, d, y = month, int(m[2]), int(m[3])
    elif m := _DATE_WORDS_DMY.fullmatch(v):
        month = _MONTHS.get(m[2].lower())
        if month is None:
            return None
        d, mo, y = int(m[1]), month, int(m[3])
    else:
        return None
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def dob_plausible(value: str, today: date | None = None) -> bool:
    """A parseable date between 1900-01-01 and today: could be someone's birth date.

    ``today`` is injectable for tests; by default the current date is used only to bound
    the year, so the answer changes at most once a day.
    """
    parsed = parse_date(value)
    if parsed is None or parsed < _DOB_MIN:
        return False
    if today is None and parsed.year < _YEAR_AT_IMPORT:
        # Today is never earlier than the day this module was imported, so a date in an
        # earlier year is in the past without asking the clock (a call per value).
        return True
    return parsed <= (today or date.today())


_DOB_MIN = date(1900, 1, 1)
_YEAR_AT_IMPORT = date.today().year


def latlng_valid(lat: float, lng: float) -> bool:
    """Latitude in [-90, 90], longitude in [-180, 180], and not the (0, 0) null island."""
    return -90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0 and not (lat == 0 and lng == 0)


def _ssn_validator(value: str) -> bool:
    return ssn_valid(value)


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "aba": aba_valid,
    "email": email_valid,
    "iban": iban_valid,
    "ip": ip_valid,
    "luhn": luhn_valid,
    "phone": phone_valid,
    "ssn": _ssn_validator,
    "date": dob_plausible,
}
