"""One exception tree for everything licensor refuses.

Every error carries a stable ``code`` (what scripts and the API match on), a
``hint`` (a sentence a person can act on), the ``http_status`` the API answers
with and the ``exit_code`` the command line ends with.  ``str(err)`` is the hint.
The CLI, the API and both consoles render any of them the same generic way.

    LicensorError                       error          422  1
    ├── MalformedError                  malformed      400  2   not a key / code / file at all (before any signature check)
    │   └── TooLarge                    too_large      413  2   over a size bound
    ├── VerificationError               untrusted      422  1   parses, but must not be trusted
    │   ├── UnknownKeyError             unknown_key    422  1   signed by a vendor key this installation does not trust
    │   └── BadSignatureError           bad_signature  422  1   the signature does not match the content
    ├── LicenseRefused                  refused        422  1   a genuine license that does not apply here or now (code: the verdict's)
    │   └── ConfirmationRequired        confirmation_required 409 1  a key that takes something away, applied without confirmation
    ├── UsageError                      usage          400  2   the caller asked for something impossible (bad option, missing state)
    │   ├── InvalidInput                invalid_request 422 2   a field of a request or form is not valid
    │   ├── InvalidEmail                invalid_email  400  2   an e-mail address that cannot be used
    │   ├── NotFound                    not_found      404  2   no such object
    │   └── Conflict                    conflict       409  2   the object exists, or the state forbids it
    ├── Unauthorized                    unauthorized   401  1   who is asking is not known (no or wrong credentials)
    ├── Forbidden                       forbidden      403  1   known, but not allowed to do this
    ├── RateLimited                     rate_limited   429  1   too many attempts; ``details["retry_after"]`` in seconds
    └── Unavailable                     unavailable    503  1   a service this needs did not answer (controller, mail server)

A subclass may still narrow the ``code`` (``LicenseRefused(verdict.hint, code=verdict.code)``);
its HTTP status and exit code stay those of its class.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "BadSignatureError",
    "ConfirmationRequired",
    "Conflict",
    "Forbidden",
    "InvalidEmail",
    "InvalidInput",
    "LicenseRefused",
    "LicensorError",
    "MalformedError",
    "NotFound",
    "RateLimited",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnknownKeyError",
    "UsageError",
    "VerificationError",
]

#: Exit codes of the ``licensor`` command: 0 done; 1 refused; 2 bad usage or malformed input;
#: 141 the reader of the output went away (as a command killed by SIGPIPE would).
EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PIPE = 0, 1, 2, 141


class LicensorError(Exception):
    """Base of every licensor error: ``code`` is stable, ``hint`` is for people."""

    code: str = "error"
    http_status: int = 422
    exit_code: int = EXIT_REFUSED

    def __init_subclass__(cls, *, code: str | None = None, http_status: int | None = None, exit_code: int | None = None) -> None:
        """``class NotFound(UsageError, code="not_found", http_status=404)``: what a subclass changes, in its header."""
        super().__init_subclass__()
        if code is not None:
            cls.code = code
        if http_status is not None:
            cls.http_status = http_status
        if exit_code is not None:
            cls.exit_code = exit_code

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


class MalformedError(LicensorError, code="malformed", http_status=400, exit_code=EXIT_USAGE):
    """The text is not a well-formed key, request code or file."""


class TooLarge(MalformedError, code="too_large", http_status=413):
    """The input is over a size bound."""


class VerificationError(LicensorError, code="untrusted"):
    """Well-formed, but not to be trusted."""


class UnknownKeyError(VerificationError, code="unknown_key"):
    """Signed by a vendor key that is not in the trusted key ring."""


class BadSignatureError(VerificationError, code="bad_signature"):
    """The signature does not verify: the content was changed or forged."""


class LicenseRefused(LicensorError, code="refused"):
    """A genuine license that the policy refuses (wrong installation, expired, ...)."""


class ConfirmationRequired(LicenseRefused, code="confirmation_required", http_status=409):
    """A genuine key that would take something away (fewer nodes, a shorter term, ...): apply it only when confirmed."""


class UsageError(LicensorError, code="usage", http_status=400, exit_code=EXIT_USAGE):
    """The caller asked for something that cannot be done as asked."""


class InvalidInput(UsageError, code="invalid_request", http_status=422):
    """A field of a request or a form is not valid: the hint names it."""


class InvalidEmail(UsageError, code="invalid_email"):
    """An e-mail address that cannot be used (malformed, or carrying line breaks)."""


class NotFound(UsageError, code="not_found", http_status=404):
    """There is no such object."""


class Conflict(UsageError, code="conflict", http_status=409):
    """The object already exists, or its state does not allow this."""


class Unauthorized(LicensorError, code="unauthorized", http_status=401):
    """No credentials, or wrong ones."""


class Forbidden(LicensorError, code="forbidden", http_status=403):
    """Known, but not allowed to do this."""


class RateLimited(LicensorError, code="rate_limited", http_status=429):
    """Too many attempts: ``details["retry_after"]`` says how many seconds to wait."""


class Unavailable(LicensorError, code="unavailable", http_status=503):
    """A service this needs (a controller, the mail server) did not answer as it should."""
