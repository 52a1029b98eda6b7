"""The PII detection engine: find CPRA personal information in JSON and text, and
mask, redact, tokenize, drop or block it.

Public API (everything else is internal)::

    from cpragate.pii import Engine, PiiConfig, ActionRules, Action

    engine = Engine(PiiConfig())                     # build once; not thread-safe to share
    findings = engine.scan_json(body_bytes)          # -> list[Finding]
    findings = engine.scan_text("call 415-555-2671")  # -> list[Finding], spans in the text
    body, ann = engine.process_json(body_bytes, ActionRules(default=Action.MASK))
    if ann.blocked: ...                              # body == b"": send nothing
    stream = engine.stream(rules, max_element_bytes=1 << 20)   # large arrays
    out = stream.feed(chunk); out += stream.close()  # check stream.blocked after each feed

* :class:`Finding` -- ``path`` (``$.items[3].ssn``), ``entity``, ``category``, ``spi``,
  ``span`` (offsets inside a string, or None for the whole value), ``source`` and an
  optional masked ``preview``. It never holds the raw value.
* :class:`Annotations` -- counts per entity, category and action, SPI count,
  ``blocked``/``blocked_by``; ``to_dict()`` for the audit record.
* :class:`ActionRules` -- entity > category > spi > default; actions are ``allow``,
  ``mask``, ``redact``, ``tokenize``, ``drop``, ``block``.
* :meth:`Engine.detokenize` -- reverse an AES-SIV token (``tokenize.reversible``).
* :class:`~cpragate.pii.streaming.JsonArrayStream` -- element-by-element processing
  of a top-level array or of the first array member of a top-level object, with
  bounded memory; raises :class:`~cpragate.errors.PiiStreamLimitError` when one
  element exceeds the limit.

Errors: :class:`~cpragate.errors.PiiError` (CPG-PII-001, misconfiguration),
``PiiInputError`` (002, unparseable input), ``PiiStreamLimitError`` (003),
``PiiBlocked`` (004, raised by :func:`~cpragate.pii.streaming.process_stream`),
``PiiTokenError`` (005).
"""

from cpragate.pii.categories import Category, Entity
from cpragate.pii.config import (
    Action,
    ActionRules,
    CustomRecognizerConfig,
    MaskOptions,
    PiiConfig,
    TokenizeOptions,
)
from cpragate.pii.engine import Annotations, Engine, Finding, ProcessResult
from cpragate.pii.streaming import JsonArrayStream, process_stream

__all__ = [
    "Action",
    "ActionRules",
    "Annotations",
    "Category",
    "CustomRecognizerConfig",
    "Engine",
    "Entity",
    "Finding",
    "JsonArrayStream",
    "MaskOptions",
    "PiiConfig",
    "ProcessResult",
    "TokenizeOptions",
    "process_stream",
]
