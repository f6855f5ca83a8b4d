"""One exception tree for everything licensor refuses.

Every error carries a stable ``code`` (what scripts and the API match on) and a
``hint`` (a sentence a person can act on).  ``str(err)`` is the hint.

    LicensorError
    ├── MalformedError          input is not a key / code / file at all (decided before any signature check)
    ├── VerificationError       the input parses but must not be trusted
    │   ├── UnknownKeyError     signed by a vendor key this installation does not trust
    │   └── BadSignatureError   the signature does not match the content
    ├── LicenseRefused          a genuine license that does not apply here or now (carries the Verdict)
    └── UsageError              the caller asked for something impossible (bad option, missing state)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadSignatureError",
    "LicenseRefused",
    "LicensorError",
    "MalformedError",
    "UnknownKeyError",
    "UsageError",
    "VerificationError",
]


class LicensorError(Exception):
    """Base of every licensor error: ``code`` is stable, ``hint`` is for people."""

    code: str = "error"

    def __init__(self, hint: str, *, code: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(hint)
        if code is not None:
            self.code = code
        self.hint = hint
        self.details: dict[str, Any] = details or {}

    def diagnostics(self) -> str:
        """A multi-line explanation for people: code, hint and any details."""
        lines = [f"{self.code}: {self.hint}"]
        lines += [f"  {k}: {v}" for k, v in sorted(self.details.items())]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "hint": self.hint}
        if self.details:
            out["details"] = self.details
        return out


class MalformedError(LicensorError):
    """The text is not a well-formed key, request code or file."""

    code = "malformed"


class VerificationError(LicensorError):
    """Well-formed, but not to be trusted."""

    code = "bad_signature"


class UnknownKeyError(VerificationError):
    """Signed by a vendor key that is not in the trusted key ring."""

    code = "unknown_key"


class BadSignatureError(VerificationError):
    """The signature does not verify: the content was changed or forged."""

    code = "bad_signature"


class LicenseRefused(LicensorError):
    """A genuine license that the policy refuses (wrong installation, expired, ...)."""

    code = "refused"


class UsageError(LicensorError):
    """The caller asked for something that cannot be done as asked."""

    code = "usage"
