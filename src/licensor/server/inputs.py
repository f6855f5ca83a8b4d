"""What both services accept at their edges: bounded numbers and dates, and request bodies read without surprises.

Every integer a caller can send has an upper bound well inside what the
database (64-bit) and the date arithmetic (year 9999) can hold, and every
date must name its time zone: a refusal there is a 422 naming the field,
where an unbounded number would be an ``OverflowError`` deep in SQLite or
``date`` arithmetic.  The bounds are far beyond any real license.

``json_body(request, Model)`` reads a JSON body by hand (for routes that
take more than one content type, or none through FastAPI) with the same
422 answer FastAPI gives for a body model: malformed JSON, ``[]``, ``null``,
bytes that are not UTF-8 and absurdly deep nesting all become field-level
``invalid_request`` refusals, never an exception.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, ValidationError

from ..errors import MalformedError

#: Upper bounds of what a license can say; far beyond any real one, far inside what storage and dates hold.
MAX_NODES = 10_000_000
MAX_CLUSTERS = 100_000
MAX_MONTHS = 1200  # a century
MAX_GRACE_DAYS = 3650
MAX_OFFSET = 1_000_000_000
#: The dates a license may name: room for grace days and maintenance months on both sides of datetime's range.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

# Strict: a JSON ``false`` or ``"5"`` is not a number of anything.
Nodes = Annotated[int, Field(strict=True, ge=0, le=MAX_NODES)]
Clusters = Annotated[int, Field(strict=True, ge=0, le=MAX_CLUSTERS)]
Months = Annotated[int, Field(strict=True, ge=1, le=MAX_MONTHS)]
GraceDays = Annotated[int, Field(strict=True, ge=0, le=MAX_GRACE_DAYS)]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]


def in_range(t: datetime) -> bool:
    """Whether an aware ``t`` lies from EARLIEST to before LATEST (compared, never converted: year 9999 at -01:00 has no UTC)."""
    return EARLIEST <= t < LATEST


def _in_range(t: datetime) -> datetime:
    if not in_range(t):
        raise ValueError(f"the date must lie from {EARLIEST.year}-01-01 to before {LATEST.year}-01-01 (a perpetual license has no expiry)")
    return t


#: A date and time with its time zone (RFC 3339, e.g. ``2027-06-30T00:00:00Z``), from year 2000 to before 9000.
Moment = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    Field(description="RFC 3339 date and time with a time zone, e.g. 2027-06-30T00:00:00Z"),
]

# One plain address: dot-atom local part, a domain of LDH labels with a dot.  No display name, no list, no
# comments, no quoting and above all no CR or LF: anything else could smuggle headers or extra recipients.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_EMAIL = re.compile(EMAIL_PATTERN)


def is_address(text: str) -> bool:
    """Whether ``text`` is exactly one plain e-mail address such as ``name@example.com``."""
    return len(text) <= 254 and _EMAIL.fullmatch(text) is not None


#: One plain e-mail address (see ``is_address``).
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN, description="one plain e-mail address, e.g. name@example.com")]

M = TypeVar("M", bound=BaseModel)

TOO_DEEP = "The input is nested far too deeply to be anything licensor made: send the text as it was made"


def too_deep() -> MalformedError:
    """The refusal for input whose nesting ran out the parser's recursion (a crafted document, never a real one)."""
    return MalformedError(TOO_DEEP)


def located(e: ValidationError, *where: str | int) -> RequestValidationError:
    """A pydantic error as FastAPI's request validation error, its locations prefixed with ``where`` (e.g. ``"body"``)."""
    return RequestValidationError([{**err, "loc": (*where, *err.get("loc", ()))} for err in e.errors(include_url=False)])


async def json_body(request: Request, model: type[M]) -> M:
    """The request body parsed as JSON into ``model``; anything else is a 422 ``invalid_request`` naming what is wrong."""
    return parse_json(await request.body(), model)


def parse_json(raw: bytes, model: type[M]) -> M:
    """``raw`` (a request body) parsed as JSON into ``model``, refused as ``json_body`` refuses it."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise located(e, "body") from None
    except RecursionError:
        raise too_deep() from None


async def form_body(request: Request, model: type[M], max_fields: int = 20) -> M:
    """A posted form (URL-encoded or multipart, no files) as ``model``; refused like ``json_body``."""
    form = await request.form(max_files=0, max_fields=max_fields)
    try:
        return model.model_validate({k: v for k, v in form.items() if isinstance(v, str)})
    except ValidationError as e:
        raise located(e, "body") from None


__all__ = [
    "EARLIEST",
    "EMAIL_PATTERN",
    "LATEST",
    "MAX_CLUSTERS",
    "MAX_GRACE_DAYS",
    "MAX_MONTHS",
    "MAX_NODES",
    "MAX_OFFSET",
    "TOO_DEEP",
    "Clusters",
    "Email",
    "GraceDays",
    "Moment",
    "Months",
    "Nodes",
    "Offset",
    "form_body",
    "in_range",
    "is_address",
    "json_body",
    "located",
    "parse_json",
    "too_deep",
]
