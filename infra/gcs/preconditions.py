"""GCS write preconditions (``ifGenerationMatch`` and friends), as plain logic with no HTTP.

Semantics follow the JSON API (https://cloud.google.com/storage/docs/request-preconditions):

* ``ifGenerationMatch=0``: the object must not exist; ``=N``: its live generation must be N.
* ``ifGenerationNotMatch=N``: a live object must exist and its generation must not be N.
* ``ifMetagenerationMatch=N`` / ``ifMetagenerationNotMatch=N``: the same on the metageneration
  of a live object.

The same conditions exist for a copy's source as ``ifSourceGenerationMatch`` etc., and on the XML
API as ``x-goog-if-generation-match`` / ``x-goog-if-metageneration-match`` headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlcloud.infra.gcs.errors import InvalidArgument, PreconditionFailed

ObjectResource = Mapping[str, Any]


def _parse(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"Invalid value for {name}: {raw!r} is not an integer.") from None
    if value < 0:
        raise InvalidArgument(f"Invalid value for {name}: {value} is negative.")
    return value


@dataclass(frozen=True)
class Preconditions:
    """The conditions one request puts on the current state of one object."""

    generation_match: int | None = None
    generation_not_match: int | None = None
    metageneration_match: int | None = None
    metageneration_not_match: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, list[str]], prefix: str = "if") -> Preconditions:
        """Read ``{prefix}GenerationMatch`` etc. from a parsed query string (``parse_qs`` shape)."""

        def get(suffix: str) -> int | None:
            key = prefix + suffix
            values = query.get(key)
            return _parse(key, values[0]) if values else None

        return cls(
            get("GenerationMatch"),
            get("GenerationNotMatch"),
            get("MetagenerationMatch"),
            get("MetagenerationNotMatch"),
        )

    @classmethod
    def from_xml_headers(cls, header: Callable[[str], str | None]) -> Preconditions:
        """Read the XML API's ``x-goog-if-generation-match`` / ``-metageneration-match`` headers."""
        return cls(
            generation_match=_parse("x-goog-if-generation-match", header("x-goog-if-generation-match")),
            metageneration_match=_parse(
                "x-goog-if-metageneration-match", header("x-goog-if-metageneration-match")
            ),
        )

    def __bool__(self) -> bool:
        return any(
            v is not None
            for v in (
                self.generation_match,
                self.generation_not_match,
                self.metageneration_match,
                self.metageneration_not_match,
            )
        )

    def check(self, current: ObjectResource | None, what: str) -> None:
        """Raise ``PreconditionFailed`` unless every condition holds for ``current``.

        ``current`` is the live object resource, or None when there is none; ``what`` names the
        object (``bucket/name``) in the error detail.
        """
        generation = int(current["generation"]) if current else None
        metageneration = int(current["metageneration"]) if current else None
        if self.generation_match is not None:
            if self.generation_match == 0 and generation is not None:
                raise PreconditionFailed(f"{what} exists (generation {generation}) and ifGenerationMatch=0")
            if self.generation_match != 0 and generation != self.generation_match:
                raise PreconditionFailed(
                    f"{what} has generation {generation}, not {self.generation_match}"
                    if generation is not None
                    else f"{what} does not exist, so its generation is not {self.generation_match}"
                )
        if self.generation_not_match is not None:
            if generation is None or generation == self.generation_not_match:
                raise PreconditionFailed(
                    f"{what} does not exist" if generation is None
                    else f"{what} has generation {generation}",
                    location="If-None-Match",
                )
        if self.metageneration_match is not None and metageneration != self.metageneration_match:
            raise PreconditionFailed(
                f"{what} has metageneration {metageneration}, not {self.metageneration_match}"
            )
        if self.metageneration_not_match is not None and (
            metageneration is None or metageneration == self.metageneration_not_match
        ):
            raise PreconditionFailed(
                f"{what} has metageneration {metageneration}", location="If-None-Match"
            )
