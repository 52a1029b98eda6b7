"""``$ref`` resolution across the files of one spec.

A place in a spec is a :class:`Location`: a loaded :class:`Document` plus a JSON
pointer inside it. A ``$ref`` is resolved against the document that contains it
(RFC 3986 relative reference, then a percent-decoded JSON pointer fragment). Files are
loaded once and cached by absolute path, so a spec split over many files that refer
to each other costs one read per file.

Rules:

- No network: ``http:``/``https:`` (and any other URL scheme) refs raise
  :class:`SpecRemoteRefError`; fetching at runtime would make the gateway's
  behaviour depend on a third party's server.
- Refs may only reach files below ``root`` when one is given (a spec from an
  untrusted source, as the scanner may load, cannot read ``/etc/passwd``), and only
  files with a YAML or JSON suffix.
- A chain of references (a ``$ref`` whose target is another ``$ref``) is followed; a
  chain that returns to itself raises :class:`SpecRefError` instead of looping.
  Recursion *through* a schema (``Node.children: [$ref Node]``) is not a chain and is
  fine: the schema bundler keeps it as a named definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cpragate.errors import SpecRefError, SpecRemoteRefError
from cpragate.openapi import pointer as jp
from cpragate.openapi.source import DEFAULT_MAX_BYTES, DEFAULT_MAX_NODES, Document, load_document

__all__ = ["Location", "Resolver", "is_ref"]

_ALLOWED_SUFFIXES = (".yaml", ".yml", ".json")


def is_ref(value: Any) -> bool:
    """Whether ``value`` is a Reference Object (a mapping with a string ``$ref``)."""
    return isinstance(value, dict) and isinstance(value.get("$ref"), str)


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a spec: a document and a JSON pointer into it."""

    document: Document
    pointer: str

    @property
    def key(self) -> tuple[Path, str]:
        """A hashable identity: (file, pointer)."""
        return (self.document.path, self.pointer)

    def child(self, *tokens: str | int) -> Location:
        """The location ``tokens`` below this one."""
        return Location(self.document, jp.join(self.pointer, *tokens))

    def where(self) -> str:
        """``file:line (at #/pointer)`` for error messages."""
        return self.document.where(self.pointer)

    def value(self) -> Any:
        """The value at this location (it must exist)."""
        return jp.lookup(self.document.data, jp.parse(self.pointer))


class Resolver:
    """Loads the documents of one spec and resolves ``$ref`` strings between them."""

    def __init__(
        self,
        root_document: Document,
        *,
        root: Path | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_nodes: int = DEFAULT_MAX_NODES,
    ) -> None:
        self.root_document = root_document
        self._confine = root.resolve() if root is not None else None
        self._max_bytes = max_bytes
        self._max_nodes = max_nodes
        self._documents: dict[Path, Document] = {root_document.path: root_document}

    @property
    def documents(self) -> list[Document]:
        """Every document loaded so far, the root first."""
        return list(self._documents.values())

    def document(self, path: Path) -> Document:
        """The document at ``path``, loaded on first use."""
        resolved = path.resolve()
        found = self._documents.get(resolved)
        if found is None:
            found = load_document(resolved, max_bytes=self._max_bytes, max_nodes=self._max_nodes)
            self._documents[resolved] = found
        return found

    def resolve(self, ref: str, at: Location) -> Location:
        """The location ``ref`` (written at ``at``) points to, without following further refs.

        :raises SpecRefError: when the file or pointer does not exist.
        :raises SpecRemoteRefError: for URLs.
        """
        parts = urlsplit(ref)
        if parts.scheme and not (len(parts.scheme) == 1 and ref[1:3] in (":\\", ":/")):
            if parts.scheme != "file":
                raise SpecRemoteRefError(
                    f"{at.where()}: $ref {ref!r} is a remote URL; cpragate never fetches specs "
                    "over the network."
                )
            raise SpecRefError(
                f"{at.where()}: $ref {ref!r} uses a file: URL.",
                fix="Write the reference as a path relative to the referring file.",
            )
        file_part, _, fragment = ref.partition("#")
        document = at.document
        if file_part:
            target = (at.document.path.parent / unquote(file_part)).resolve()
            if target.suffix.lower() not in _ALLOWED_SUFFIXES:
                raise SpecRefError(
                    f"{at.where()}: $ref {ref!r} names a {target.suffix or 'suffix-less'} file; "
                    "only .yaml, .yml and .json files can be referenced here."
                )
            if self._confine is not None and not target.is_relative_to(self._confine):
                raise SpecRefError(
                    f"{at.where()}: $ref {ref!r} leaves the spec's directory {self._confine}.",
                    fix="Keep every referenced file under the spec's directory.",
                )
            if not target.is_file():
                raise SpecRefError(
                    f"{at.where()}: $ref {ref!r} names {target}, which does not exist.",
                )
            document = self.document(target)
        try:
            tokens = jp.parse(fragment, fragment=True)
        except ValueError:
            raise SpecRefError(
                f"{at.where()}: $ref {ref!r} has the fragment {fragment!r}, which is not a JSON pointer.",
                fix="Use a JSON pointer fragment such as '#/components/schemas/Pet' "
                "($anchor names are not supported).",
            ) from None
        try:
            jp.lookup(document.data, tokens)
        except LookupError as missing:
            raise SpecRefError(
                f"{at.where()}: $ref {ref!r} points at nothing: {document.path} has no "
                f"{str(missing)!r} at {jp.from_tokens(tokens)}.",
            ) from None
        return Location(document, jp.from_tokens(tokens))

    def follow(self, at: Location) -> tuple[Location, Any]:
        """The first non-reference value reached from ``at``, following ``$ref`` chains.

        :raises SpecRefError: when the chain is circular or broken.
        """
        seen: set[tuple[Path, str]] = set()
        here = at
        value = here.value()
        while is_ref(value):
            if here.key in seen:
                raise SpecRefError(
                    f"{at.where()}: the $ref chain returns to {here.where()} and never reaches a value.",
                    fix="Make one $ref in the cycle point at a real definition.",
                )
            seen.add(here.key)
            here = self.resolve(value["$ref"], here)
            value = here.value()
        return here, value
