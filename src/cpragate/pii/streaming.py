"""Streaming: process a large JSON array element by element with bounded memory.

Supported shapes: a top-level array (``[{...}, {...}]``) or a top-level object whose
first array-valued member is the big one (``{"total": 3, "items": [...], "next": "x"}``).
Members before the array are processed when the array starts; members after it are
buffered (up to ``max_element_bytes``) and processed at the end.

Rules:
* Memory is bounded by ``max_element_bytes`` plus one chunk: an element (or the members
  before/after the array) larger than that raises ``PiiStreamLimitError``.
* Output bytes for an element are returned as soon as the element is complete, so a
  later element that triggers ``block`` comes after bytes were sent: :attr:`blocked`
  turns True, nothing more is returned, and the caller must abort the connection
  (the gateway audits the exchange as blocked).
* Paths in findings are the same as for the whole document (``$.items[1234].ssn``).
* Any other top-level value is buffered whole (up to the limit) and processed at close.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import orjson

from cpragate.errors import PiiBlocked, PiiInputError, PiiStreamLimitError
from cpragate.pii.config import ActionRules
from cpragate.pii.engine import Annotations, Loc

if TYPE_CHECKING:
    from cpragate.pii.engine import Engine

__all__ = ["JsonArrayStream", "process_stream"]

_STRUCT = re.compile(rb'["\[\]{},]')
_STRING_REST = re.compile(rb'(?:[^"\\]|\\.)*"', re.DOTALL)
_WS = b" \t\r\n"


class JsonArrayStream:
    """Incremental processor; feed bytes, get rewritten bytes.

    :param engine: the engine that detects and rewrites.
    :param actions: action rules for this exchange (engine config's when None).
    :param max_element_bytes: the largest element (or prefix/suffix) held in memory.
    :param array: stream only the top-level member of this name (``"data"`` for
        ``{"data": [...]}``); None: the first array member.
    :param annotations: where the counts go (a fresh :class:`Annotations` when None), so
        a caller can read them while the stream runs.
    """

    def __init__(
        self,
        engine: Engine,
        actions: ActionRules | None = None,
        *,
        max_element_bytes: int = 1 << 20,
        array: str | None = None,
        annotations: Annotations | None = None,
    ) -> None:
        self.engine = engine
        self.actions = actions
        self.max_element_bytes = max_element_bytes
        self.array = array
        self.annotations = annotations if annotations is not None else Annotations()
        self.blocked = False
        self._buf = bytearray()
        self._state = "start"  # start, object_prefix, elements, suffix, whole, done
        self._array_loc: Loc = None
        self._index = 0
        self._emitted_any = False
        self._pos = 0  # scan position inside _buf for the current element
        self._depth = 0
        self._in_str = False
        self._str_start = 0
        self._elem_start = -1
        self._array_key = b""

    # ------------------------------------------------------------------ API

    @property
    def elements(self) -> int:
        """How many array elements were processed so far."""
        return self._index

    def feed(self, chunk: bytes) -> bytes:
        """Add input; returns output ready to send (possibly ``b""``).

        :raises PiiInputError: the input is not valid JSON of a supported shape.
        :raises PiiStreamLimitError: an element exceeds ``max_element_bytes``.
        """
        if self.blocked or self._state == "done":
            return b""
        self._buf += chunk
        out = bytearray()
        self._run(out)
        return bytes(out) if not self.blocked else b""

    def close(self) -> bytes:
        """Finish: returns the remaining output.

        :raises PiiInputError: the input ended inside a value.
        """
        if self.blocked:
            return b""
        out = bytearray()
        if self._state in ("start", "whole"):
            data = bytes(self._buf).strip()
            if not data:
                raise PiiInputError("the body is empty.")
            self._buf.clear()
            body, ann = self.engine.process_json(data, self.actions)
            self.annotations.merge(ann)
            self.blocked = ann.blocked
            self._state = "done"
            return b"" if self.blocked else body
        if self._state == "suffix":
            out += self._finish_suffix()
        elif self._state != "done":
            raise PiiInputError("the JSON body ended inside the array.")
        self._state = "done"
        return b"" if self.blocked else bytes(out)

    # ------------------------------------------------------------------ machinery

    def _run(self, out: bytearray) -> None:
        while not self.blocked:
            if self._state == "start":
                i = _skip_ws(self._buf, 0)
                if i >= len(self._buf):
                    self._buf.clear()
                    return
                first = self._buf[i]
                del self._buf[:i]
                if first == ord("["):
                    del self._buf[:1]
                    out += b"["
                    self._state = "elements"
                    self._array_loc = None
                    self._reset_scan()
                elif first == ord("{"):
                    self._state = "object_prefix"
                    self._pos = 1
                    self._member_state = "key"
                else:
                    self._state = "whole"
            elif self._state == "object_prefix":
                if not self._object_prefix(out):
                    self._check_limit(len(self._buf))
                    return
            elif self._state == "elements":
                if not self._next_element(out):
                    return
            elif self._state == "suffix":
                self._check_limit(len(self._buf))
                return
            else:  # whole / done
                self._check_limit(len(self._buf))
                return

    def _reset_scan(self) -> None:
        self._pos = 0
        self._depth = 0
        self._in_str = False
        self._elem_start = -1

    def _check_limit(self, size: int) -> None:
        if size > self.max_element_bytes:
            raise PiiStreamLimitError(
                f"an element or member is larger than max_element_bytes={self.max_element_bytes}."
            )

    def _object_prefix(self, out: bytearray) -> bool:
        """Scan members of the top-level object until one is an array; False = need data."""
        buf = self._buf
        while True:
            i = _skip_ws(buf, self._pos)
            if i >= len(buf):
                return False
            c = buf[i]
            if self._member_state == "key":
                if c == ord("}"):
                    # No array member at all: the whole object is small; process at close.
                    self._state = "whole"
                    return True
                if c == ord(","):
                    self._pos = i + 1
                    continue
                if c != ord('"'):
                    raise PiiInputError("the JSON object has a malformed member.")
                m = _STRING_REST.match(buf, i + 1)
                if m is None:
                    return False
                self._key_span = (i, m.end())
                self._pos = m.end()
                self._member_state = "colon"
            elif self._member_state == "colon":
                if c != ord(":"):
                    raise PiiInputError("the JSON object has a malformed member.")
                self._pos = i + 1
                self._member_state = "value"
            elif self._member_state == "value":
                if c == ord("[") and self._wanted():
                    key_start, key_end = self._key_span
                    prefix = bytes(buf[:key_start]).rstrip(_WS).rstrip(b",")
                    key_bytes = bytes(buf[key_start:key_end])
                    key = orjson.loads(key_bytes)
                    obj = orjson.loads(prefix + b"}")
                    new, ann = self.engine.process_value(obj, self.actions)
                    self.annotations.merge(ann)
                    if ann.blocked:
                        self.blocked = True
                        return True
                    head = orjson.dumps(new)[:-1]
                    out += head + (b"," if len(head) > 1 else b"") + orjson.dumps(key) + b":["
                    del buf[: i + 1]
                    self._array_loc = (None, key)
                    self._state = "elements"
                    self._reset_scan()
                    return True
                # Skip a non-array value.
                end = _value_end(buf, i)
                if end is None:
                    return False
                self._pos = end
                self._member_state = "key"

    def _wanted(self) -> bool:
        """Whether the member whose key was just read is the array to stream."""
        if self.array is None:
            return True
        key_start, key_end = self._key_span
        try:
            return bool(orjson.loads(bytes(self._buf[key_start:key_end])) == self.array)
        except orjson.JSONDecodeError:
            raise PiiInputError("the JSON object has a malformed member name.") from None

    def _next_element(self, out: bytearray) -> bool:
        """Extract and emit one element if complete; False = need more data."""
        buf = self._buf
        if self._elem_start < 0:
            i = _skip_ws(buf, 0)
            if i >= len(buf):
                buf.clear()
                return False
            c = buf[i]
            if c == ord(","):
                if not self._emitted_any and self._index == 0:
                    raise PiiInputError("the JSON array starts with a comma.")
                del buf[: i + 1]
                return True
            if c == ord("]"):
                del buf[: i + 1]
                out += b"]"
                self._state = "suffix" if self._array_loc is not None else "done"
                if self._state == "done" and bytes(buf).strip(_WS):
                    raise PiiInputError("unexpected data after the JSON array.")
                return True
            del buf[:i]
            self._elem_start = 0
            self._pos = 0
            self._depth = 0
            self._in_str = False
        end = self._scan_element()
        if end is None:
            self._check_limit(len(buf))
            return False
        data = bytes(buf[:end])
        del buf[:end]
        self._elem_start = -1
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise PiiInputError(f"array element {self._index} is not valid JSON ({exc.msg}).") from None
        new, ann = self.engine.process_value(value, self.actions, base=(self._array_loc, self._index))
        self.annotations.merge(ann)
        if ann.blocked:
            self.blocked = True
            return False
        if self._emitted_any:
            out += b","
        out += orjson.dumps(new)
        self._emitted_any = True
        self._index += 1
        return True

    def _scan_element(self) -> int | None:
        """End offset of the element starting at 0 in the buffer, or None if incomplete."""
        buf = self._buf
        pos = self._pos
        depth = self._depth
        if self._in_str:
            m = _STRING_REST.match(buf, self._str_start)
            if m is None:
                return None
            pos = m.end()
            self._in_str = False
        n = len(buf)
        while True:
            m = _STRUCT.search(buf, pos)
            if m is None:
                self._pos, self._depth = n, depth
                return None
            c = buf[m.start()]
            if c == 0x22:  # '"'
                s = _STRING_REST.match(buf, m.end())
                if s is None:
                    self._in_str, self._str_start = True, m.end()
                    self._pos, self._depth = m.end(), depth
                    return None
                pos = s.end()
                continue
            if c == 0x5B or c == 0x7B:  # [ {
                depth += 1
            elif c == 0x5D or c == 0x7D:  # ] }
                if depth == 0:
                    return _rstrip_end(buf, m.start())
                depth -= 1
                if depth == 0:
                    return m.end()
            elif c == 0x2C and depth == 0:  # ,
                return _rstrip_end(buf, m.start())
            pos = m.end()

    def _finish_suffix(self) -> bytes:
        rest = bytes(self._buf).strip(_WS)
        self._buf.clear()
        if rest == b"}":
            return b"}"
        if not rest.startswith(b",") or not rest.endswith(b"}"):
            raise PiiInputError("the JSON object after the streamed array is malformed.")
        try:
            obj = orjson.loads(b"{" + rest[1:])
        except orjson.JSONDecodeError as exc:
            raise PiiInputError(f"the JSON object is not valid ({exc.msg}).") from None
        new, ann = self.engine.process_value(obj, self.actions)
        self.annotations.merge(ann)
        if ann.blocked:
            self.blocked = True
            return b""
        body = orjson.dumps(new)
        return (b"," + body[1:]) if len(body) > 2 else b"}"


def _skip_ws(buf: bytearray, i: int) -> int:
    n = len(buf)
    while i < n and buf[i] in _WS:
        i += 1
    return i


def _rstrip_end(buf: bytearray, end: int) -> int:
    while end > 0 and buf[end - 1] in _WS:
        end -= 1
    return end


def _value_end(buf: bytearray, i: int) -> int | None:
    """End offset of the JSON value starting at ``i`` (inside an object), or None."""
    depth = 0
    pos = i
    while True:
        m = _STRUCT.search(buf, pos)
        if m is None:
            return None
        c = buf[m.start()]
        if c == 0x22:
            s = _STRING_REST.match(buf, m.end())
            if s is None:
                return None
            pos = s.end()
            if depth == 0:
                return pos
            continue
        if c in (0x5B, 0x7B):
            depth += 1
        elif c in (0x5D, 0x7D):
            if depth == 0:
                return m.start()
            depth -= 1
            if depth == 0:
                return m.end()
        elif c == 0x2C and depth == 0:
            return m.start()
        pos = m.end()


def process_stream(
    engine: Engine,
    chunks: Iterable[bytes],
    actions: ActionRules | None = None,
    *,
    max_element_bytes: int = 1 << 20,
    annotations: Annotations | None = None,
) -> Iterator[bytes]:
    """Yield the rewritten body chunk by chunk.

    :param annotations: if given, receives the counts (also when blocked).
    :raises PiiBlocked: a later element requires blocking the whole response; bytes
        already yielded were sent, so the caller must abort the connection.
    """
    stream = JsonArrayStream(engine, actions, max_element_bytes=max_element_bytes)
    try:
        for chunk in chunks:
            out = stream.feed(chunk)
            if stream.blocked:
                raise PiiBlocked(f"the policy blocks {stream.annotations.blocked_by}.")
            if out:
                yield out
        out = stream.close()
        if stream.blocked:
            raise PiiBlocked(f"the policy blocks {stream.annotations.blocked_by}.")
        if out:
            yield out
    finally:
        if annotations is not None:
            annotations.merge(stream.annotations)


def _unused(_: Any) -> None:  # pragma: no cover - keeps Any import used for typing
    return None
