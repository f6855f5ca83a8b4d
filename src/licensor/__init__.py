"""licensor: offline license keys for self-hosted software.

The bare package is the core SDK a product embeds to verify a key offline: it
does no I/O, takes ``now`` as an argument and depends on PyNaCl only.  The
services (``licensor.controller``, ``licensor.issuer``) need ``licensor[server]``.

    >>> from licensor import Keyring, Installation, check
    >>> verdict = check(pasted_text, keyring, installation, now)   # doctest: +SKIP
    >>> verdict.code, verdict.hint                                  # doctest: +SKIP

``import licensor`` itself loads nothing: each public name is imported from its
module on first use (PEP 562), so a command that needs only part of the package
starts as fast as a bare Python.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would cost more than the rest of this module (mypy reads the name alone).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .errors import (
        BadSignatureError,
        LicenseRefused,
        LicensorError,
        MalformedError,
        UnknownKeyError,
        UsageError,
        VerificationError,
    )
    from .identity import Binding, InstallationKey, default_binding, hash_factors, installation_id
    from .license import License, decode_license, license_file, new_license
    from .policy import Installation, Verdict, check, evaluate, feature_enabled, update_allowed
    from .request import Contact, RequestCode, decode_request, make_request
    from .signing import Keyring, VendorKey, key_id

__version__ = "0.1.0"

# Each public name, to the module that defines it.
_WHERE = {
    **dict.fromkeys(
        (
            "BadSignatureError",
            "LicenseRefused",
            "LicensorError",
            "MalformedError",
            "UnknownKeyError",
            "UsageError",
            "VerificationError",
        ),
        "errors",
    ),
    **dict.fromkeys(("Binding", "InstallationKey", "default_binding", "hash_factors", "installation_id"), "identity"),
    **dict.fromkeys(("License", "decode_license", "license_file", "new_license"), "license"),
    **dict.fromkeys(("Installation", "Verdict", "check", "evaluate", "feature_enabled", "update_allowed"), "policy"),
    **dict.fromkeys(("Contact", "RequestCode", "decode_request", "make_request"), "request"),
    **dict.fromkeys(("Keyring", "VendorKey", "key_id"), "signing"),
}

_SUBMODULES = frozenset(("codec", "errors", "identity", "license", "policy", "request", "signing"))

__all__ = [
    "BadSignatureError",
    "Binding",
    "Contact",
    "Installation",
    "InstallationKey",
    "Keyring",
    "License",
    "LicenseRefused",
    "LicensorError",
    "MalformedError",
    "RequestCode",
    "UnknownKeyError",
    "UsageError",
    "VendorKey",
    "Verdict",
    "VerificationError",
    "check",
    "decode_license",
    "decode_request",
    "default_binding",
    "evaluate",
    "feature_enabled",
    "hash_factors",
    "installation_id",
    "key_id",
    "license_file",
    "make_request",
    "new_license",
    "update_allowed",
]


# Hidden from mypy, which would otherwise take any misspelt name for an attribute; it reads the imports above.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """Import a public name's module on first use and keep the name here (later reads are plain lookups)."""
        from importlib import import_module

        where = _WHERE.get(name)
        if where is not None:
            value = getattr(import_module(f".{where}", __name__), name)
        elif name in _SUBMODULES:  # ``import licensor`` used to load these; ``licensor.policy.X`` still works
            value = import_module(f".{name}", __name__)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
