"""Operators: what replaces a detected value (mask, redact, tokenize).

``drop`` (remove the field) and ``block`` (refuse the whole body) are structural and are
carried out by the engine; the functions here only turn one value into its replacement.

Invariant (property-tested): no operator output contains the detected value. ``mask``
keeps at most ``keep_last`` letters/digits and never more than half of them; tokens are
HMAC-SHA256 or AES-SIV outputs that do not contain the input.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cpragate.errors import PiiError, PiiTokenAltered, PiiTokenError
from cpragate.pii.config import MaskOptions, TokenizeOptions

__all__ = ["Masker", "Tokenizer", "mask_number", "mask_value", "redact_value"]

try:
    # mask_value's ASCII path in C (_cscan.c), loaded by cpragate._accel only while it
    # matches its source; otherwise (not built, stale, CPRAGATE_PURE=1) the Python below.
    from cpragate.pii import _cscan

    _native_mask: Callable[[str, str, int], str] | None = _cscan.mask_ascii
except ImportError:
    _native_mask = None

_SHAPE_FIELD = re.compile(r"\{(first|last)([1-4])\}")
# An entity name inside a token (config: lower_snake, 2-41 characters; built-ins alike).
_MAX_ENTITY = 42
"""Longest entity name a token may carry (custom entities: 2-41 characters; built-ins are shorter)."""
_ENTITY = re.compile(r"[a-z][a-z0-9_]{0,41}")
_KEYED = re.compile(r"[a-z][a-z0-9_]{0,41}_[a-z2-7]{12,52}")
"""The shape of a keyed-hash token after its prefix (``hmac_length`` is 12 to 52)."""
MAX_TOKEN_CHARS = 4096
"""Longest token :meth:`Tokenizer.open` looks at (a value of a few KiB; longer is refused unread)."""


def mask_value(value: str, entity: str, options: MaskOptions) -> str:
    """Mask ``value``: letters and digits become ``options.char``, separators stay.

    The last ``options.keep_last[entity]`` letters/digits stay visible (never more than
    half of them); a configured shape for the entity replaces this default.
    """
    shape = options.shapes.get(entity)
    if shape is not None:
        return _mask_shape(value, shape)
    char = options.char
    if not value.isascii():
        return _mask_slow(value, options.keep_last.get(entity, 0), char)
    if _native_mask is not None and len(char) == 1 and char.isascii():
        # The ASCII path below in one C pass (cpragate.pii._cscan.mask_ascii).
        return _native_mask(value, char, options.keep_last.get(entity, 0))
    # ASCII: str.translate does the per-character work in C (most values are ASCII).
    if len(char) == 1 and char.isascii():
        # One C loop over bytes (str.translate looks each distinct character up in a dict).
        masked = value.encode().translate(_byte_mask_table(char)).decode()
    else:
        masked = value.translate(_STAR if char == "*" else _mask_table(char))
    keep = options.keep_last.get(entity, 0)
    if keep == 0:
        return masked
    if char == "*" and "*" not in value:
        # Every "*" of ``masked`` is a letter or digit of ``value``: count and find the
        # cut with C string methods instead of a loop over characters.
        keep = min(keep, masked.count("*") // 2)
        if keep == 0:
            return masked
        i = len(masked)
        for _ in range(keep):
            i = masked.rfind("*", 0, i)
        return masked[:i] + value[i:]
    keep = min(keep, len(value.translate(_ONLY_ALNUM)) // 2)
    if keep == 0:
        return masked
    i = len(value)
    seen = 0
    while seen < keep:
        i -= 1
        if value[i] in _ASCII_ALNUM:
            seen += 1
    return masked[:i] + value[i:]


def _mask_shape(value: str, shape: str) -> str:
    """A configured shape filled from ``value`` (a function of its own: the closure's
    environment is then built only for a shape, not on every mask)."""
    alnum = [c for c in value if c.isalnum()]
    limit = len(alnum) // 2

    def fill(m: re.Match[str]) -> str:
        n = min(int(m[2]), limit)
        if n == 0:
            return ""
        return "".join(alnum[:n] if m[1] == "first" else alnum[-n:])

    return _SHAPE_FIELD.sub(fill, shape)


_ASCII_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Deletes every ASCII character that is not a letter or digit (to count them).
# (Complete ASCII tables: str.translate raises and clears a KeyError per missing key.)
_ONLY_ALNUM: dict[int, int | None] = {i: (i if chr(i) in _ASCII_ALNUM else None) for i in range(128)}


def _mask_table(char: str) -> dict[int, str]:
    table = _TABLES.get(char)
    if table is None:
        table = _TABLES[char] = {i: (char if chr(i) in _ASCII_ALNUM else chr(i)) for i in range(128)}
    return table


_TABLES: dict[str, dict[int, str]] = {}


def _byte_mask_table(char: str) -> bytes:
    """A ``bytes.translate`` table: ASCII letters and digits -> ``char`` (one ASCII character)."""
    table = _BYTE_TABLES.get(char)
    if table is None:
        c = ord(char)
        table = _BYTE_TABLES[char] = bytes([c if chr(i) in _ASCII_ALNUM else i for i in range(256)])
    return table


_BYTE_TABLES: dict[str, bytes] = {}


_STAR = _mask_table("*")


def _mask_slow(value: str, keep_last: int, char: str) -> str:
    # Any script: str.isalnum decides what a letter or digit is.
    alnum = sum(1 for c in value if c.isalnum())
    keep = min(keep_last, alnum // 2)
    if keep == 0:
        return "".join(char if c.isalnum() else c for c in value)
    out = []
    seen = 0
    cutoff = alnum - keep
    for c in value:
        if c.isalnum():
            out.append(c if seen >= cutoff else char)
            seen += 1
        else:
            out.append(c)
    return "".join(out)


def mask_number(value: float, options: MaskOptions) -> float:
    """Coarsen a latitude/longitude to ``options.geo_decimals`` decimals."""
    return _round(float(value), options.geo_decimals)


def _round(x: float, n: int) -> float:
    """``round(x, n)``, exactly, mostly without its decimal conversion (~2.5k instructions).

    ``round`` rounds the exact binary value of ``x`` to ``n`` decimals (half to even) and
    returns the double nearest that decimal. For 0 <= n <= 3 and |x| * 10**n < 1e9:
    ``y = |x| * 10**n`` is within 6e-8 of the exact product, so a fraction of ``y`` not
    within 1e-6 of .5 puts the exact value on the same side of the tie, and ``r / 10**n``
    (two doubles that hold the integers exactly) is correctly rounded by IEEE division:
    the double nearest ``r / 10**n``. The sign (also of a zero) is ``x``'s, as ``round``
    gives. Anything else (a near tie, large values, NaN, infinities): ``round`` itself.
    """
    if 0 <= n <= 3:
        a = math.fabs(x)
        p = 100.0 if n == 2 else 1000.0 if n == 3 else 10.0 if n == 1 else 1.0
        y = a * p
        if y < 1e9:
            fl = float(math.floor(y))
            frac = y - fl
            if frac < 0.499999:
                return math.copysign(fl / p, x)
            if frac > 0.500001:
                return math.copysign((fl + 1.0) / p, x)
    return round(x, n)


class Masker:
    """:func:`mask_value` and :func:`mask_number` with one :class:`MaskOptions` read once
    (an attribute of a pydantic model costs a generic attribute lookup per read).

    Holds the options' own dicts (not copies), so it answers exactly as the functions do.
    """

    def __init__(self, options: MaskOptions) -> None:
        self.options = options
        self.shapes: dict[str, str] = options.shapes
        self.keep_last: dict[str, int] = options.keep_last
        self.char: str = options.char
        self.geo_decimals: int = options.geo_decimals
        # mask_value's native ASCII path, when it would take it (a one-character ASCII mask).
        self.native: Callable[[str, str, int], str] | None = (
            _native_mask if len(self.char) == 1 and self.char.isascii() else None
        )

    def mask(self, value: str, entity: str) -> str:
        """``mask_value(value, entity, options)``."""
        native = self.native
        if native is not None and value.isascii() and (not self.shapes or entity not in self.shapes):
            return native(value, self.char, self.keep_last.get(entity, 0))
        return mask_value(value, entity, self.options)

    def number(self, value: float) -> float:
        """``mask_number(value, options)``."""
        return _round(float(value), self.geo_decimals)


def redact_value(template: str, entity: str, category: str) -> str:
    """The redaction placeholder with ``{entity}``/``{category}`` filled in."""
    return template.replace("{entity}", entity).replace("{category}", category)


class Tokenizer:
    """Deterministic keyed tokens: ``<prefix><entity>_<body>``.

    Irreversible mode: body = base32(HMAC-SHA256(k_mac, entity NUL value)) truncated to
    ``hmac_length`` characters. Reversible mode: body = urlsafe-base64(AES-SIV(k_siv,
    value, associated data = entity)) without padding; :meth:`detokenize` returns the
    value and refuses tokens that were altered or made with another key or entity.
    Both subkeys are derived from the configured secret with HKDF-SHA256 and distinct
    ``info`` labels, so one secret never serves two algorithms.
    """

    __slots__ = ("_length", "_mac_key", "_prefix", "_reversible", "_siv")

    def __init__(self, options: TokenizeOptions) -> None:
        if options.key is None:
            raise PiiError("tokenize is used but no tokenize.key is configured.")
        secret = options.key.get_secret_value().encode()
        if len(secret) < 16:
            raise PiiError("tokenize.key is shorter than 16 bytes.")
        self._mac_key = _hkdf(secret, b"cpragate-pii-token-hmac", 32)
        self._siv = AESSIV(_hkdf(secret, b"cpragate-pii-token-aes-siv", 64))
        self._prefix = options.prefix
        self._reversible = options.reversible
        self._length = options.hmac_length

    def tokenize(self, value: str, entity: str) -> str:
        """The token of ``value`` (same value, entity and key -> same token)."""
        if self._reversible:
            ct = self._siv.encrypt(value.encode(), [entity.encode()])
            body = base64.urlsafe_b64encode(ct).rstrip(b"=").decode()
            return f"{self._prefix}{entity}_r{body}"
        mac = hmac.new(self._mac_key, entity.encode() + b"\x00" + value.encode(), hashlib.sha256)
        body = base64.b32encode(mac.digest()).decode().lower()[: self._length]
        return f"{self._prefix}{entity}_{body}"

    def detokenize(self, token: str) -> str:
        """The value behind a reversible token.

        :raises PiiTokenError: the token is not a reversible token of this key.
        """
        return self.open(token)[0]

    def open(self, token: str) -> tuple[str, str]:
        """(value, entity) behind a reversible token.

        The body is urlsafe base64, which may itself contain ``_r``, and entity names may
        too (``aba_routing``): every ``_r`` after a well-formed entity name is tried as the
        separator, left to right, and only the right one authenticates (the entity is the
        associated data), so a token is never misread.

        Only separators within the longest entity name are tried and tokens longer than
        :data:`MAX_TOKEN_CHARS` are refused, so a crafted token costs a bounded number of
        decryptions (this runs on the event loop).

        :raises PiiTokenAltered: well-formed, but altered or made with another key.
        :raises PiiTokenError: not a reversible token (no prefix, a keyed hash, too long).
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise PiiTokenError(f"the token is longer than {MAX_TOKEN_CHARS} characters.")
        if not token.startswith(self._prefix):
            raise PiiTokenError("the token does not start with the configured prefix.")
        rest = token[len(self._prefix) :]
        end = _MAX_ENTITY + 2  # "_r" right after the longest entity name
        i = rest.find("_r", 1, end)
        tried = False
        while i > 0:
            entity = rest[:i]
            if _ENTITY.fullmatch(entity) is not None:
                tried = True
                body = rest[i + 2 :]
                try:
                    ct = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
                    return self._siv.decrypt(ct, [entity.encode()]).decode(), entity
                except (InvalidTag, ValueError):
                    pass
            i = rest.find("_r", i + 1, end)
        if not tried:
            raise PiiTokenError("the token is not a reversible token.")
        if _KEYED.fullmatch(rest) is not None:  # a keyed hash whose body starts with "r"
            raise PiiTokenError("the token is not a reversible token (a keyed hash cannot be reversed).")
        raise PiiTokenAltered("the token was altered or made with another key.")


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(secret)
