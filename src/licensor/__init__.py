"""licensor: offline license keys for self-hosted software.

The bare package is the core SDK a product embeds to verify a key offline: it
does no I/O, takes ``now`` as an argument and depends on PyNaCl only.  The
services (``licensor.controller``, ``licensor.issuer``) need ``licensor[server]``.

    >>> from licensor import Keyring, Installation, check
    >>> verdict = check(pasted_text, keyring, installation, now)   # doctest: +SKIP
    >>> verdict.code, verdict.hint                                  # doctest: +SKIP
"""

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
