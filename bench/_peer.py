"""One library's side of the verify comparison, run by ``bench.peers`` with that library's own Python.

    <venv>/bin/python bench/_peer.py NAME

Imports nothing but NAME's library (and the standard library): the peers live in
their own virtual environments under bench/.peers/, never in ours.  It issues a
license bound to this machine the library's own way, checks that a valid license
is accepted, a tampered one refused and one for another machine refused, and
prints one JSON line with the outcome.  Then, for every line ``N`` it reads, it
verifies the license N times and prints the microseconds per verify.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Verify = Callable[[str], bool]
OTHER_MACHINE = "another-machine-0000"


def _machine_id() -> str:
    """This machine's id as the peers without a fingerprint helper of their own would read it."""
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(p).read_text().strip()
        except OSError:
            continue
    import uuid

    return f"{uuid.getnode():012x}"


def _flip(text: str, at: int) -> str:
    """One character changed, to another of the same alphabet."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def licensor_setup() -> tuple[Verify, Verify, dict[str, str]]:
    """licensor: a v4.public key bound to this installation's hashed host factors (k of n); ``check`` evaluates it."""
    import licensor
    from licensor import Installation, check, hash_factors
    from licensor.testing import TestVendor

    vendor = TestVendor()
    key = licensor.InstallationKey.generate()
    raw = {"machine": _machine_id(), "hostname": __import__("socket").gethostname(), "dmi": "bench"}
    here = Installation(id=key.id, product="bench", factors=hash_factors(key.public_key, raw))
    elsewhere = Installation(
        id=key.id, product="bench", factors=hash_factors(key.public_key, {**raw, "machine": OTHER_MACHINE, "dmi": "x"})
    )
    ring = vendor.keyring
    now = datetime.now(UTC)
    token = vendor.issue(here, now=now, nodes=50, features=("fips", "multi-cluster"), remote_clusters=2)
    mode = sys.argv[2] if len(sys.argv) > 2 else "cold"

    def verify_here(t: str) -> bool:
        return check(t, ring, here, now).code == "valid"

    def verify_elsewhere(t: str) -> bool:
        return check(t, ring, elsewhere, now).code == "valid"

    from itertools import cycle

    from licensor.policy import VERIFIED_MAX

    # Keys not seen before: more distinct keys than the ring remembers, round robin; the floor verifies the same keys.
    # The cached check needs none of them.
    keys = [
        vendor.issue(here, now=now, nodes=50, features=("fips", "multi-cluster"), remote_clusters=2, serial=i + 1)
        for i in range(4 * VERIFIED_MAX if mode != "cached" else 0)
    ]
    if mode == "cold":
        pool = cycle(keys)
        timed: Verify = lambda _t: check(next(pool), ring, here, now).code == "valid"  # noqa: E731
    elif mode == "bare":
        import nacl.bindings as sodium

        from licensor.signing import pae, split_token

        signed = []
        for k in keys:
            message, sig, footer = split_token(k)
            signed.append(sig + pae(b"v4.public.", message, footer, b""))
        msgs, pk = cycle(signed), vendor.key.public_key
        timed = lambda _t: bool(sodium.crypto_sign_open(next(msgs), pk))  # noqa: E731
    else:
        timed = verify_here
    verify_here.timed = timed  # type: ignore[attr-defined]
    return verify_here, verify_elsewhere, {"token": token, "elsewhere_token": token, "version": licensor.__version__}


def pyseto_setup() -> tuple[Verify, Verify, dict[str, str]]:
    """pyseto: a v4.public token with the machine id and expiry as claims; decode checks signature and exp, we check the machine."""
    import hashlib

    import pyseto
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sk = Ed25519PrivateKey.generate()
    sk_pem = sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pk_pem = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signer, verifier = pyseto.Key.new(4, "public", sk_pem), pyseto.Key.new(4, "public", pk_pem)
    me = hashlib.sha256(_machine_id().encode()).hexdigest()

    def issue(machine: str) -> str:
        claims = {"sub": "bench", "machine": machine, "nodes": 50, "features": ["fips", "multi-cluster"]}
        return pyseto.encode(signer, claims, footer={"kid": "bench"}, exp=3600 * 24 * 365).decode()

    def verify(t: str) -> bool:
        try:
            decoded = pyseto.decode(verifier, t, deserializer=json)
        except Exception:
            return False
        return decoded.payload["machine"] == me  # type: ignore[index]

    return verify, verify, {"token": issue(me), "elsewhere_token": issue(OTHER_MACHINE), "version": pyseto.__version__}


def keymint_setup() -> tuple[Verify, Verify, dict[str, str]]:
    """keymint: the offline .lic JWT (EdDSA, kid = SHA-256 of the SPKI) its server signs, verified by verify_offline_license."""
    import hashlib

    import keymint
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from keymint.identity import get_machine_id

    sk = Ed25519PrivateKey.generate()
    spki = sk.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = sk.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).rstrip(b"=").decode()
    me = get_machine_id() or hashlib.sha256(_machine_id().encode()).hexdigest()

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()

    def issue(machine: str) -> str:
        now = int(time.time())
        head = b64({"alg": "EdDSA", "typ": "JWT", "kid": kid})
        body = b64(
            {"type": "offline", "productId": "bench", "machineCode": machine, "sub": "KEY-BENCH", "iat": now, "exp": now + 86400 * 365}
        )
        sig = base64.urlsafe_b64encode(sk.sign(f"{head}.{body}".encode())).rstrip(b"=").decode()
        return f"{head}.{body}.{sig}"

    def verify(t: str) -> bool:
        try:
            keymint.verify_offline_license(t, public_keys=[pem], product_id="bench", machine_code=me)
        except keymint.OfflineLicenseError:
            return False
        return True

    return verify, verify, {"token": issue(me), "elsewhere_token": issue(OTHER_MACHINE), "version": keymint.__version__}


def licensing_setup() -> tuple[Verify, Verify, dict[str, str]]:
    """Cryptolens: a signed license response (RSA-2048, PKCS#1 v1.5, SHA-256, as its server signs) with this machine activated."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from licensing.methods import Helpers
    from licensing.models import LicenseKey

    sk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nums = sk.public_key().public_numbers()

    def i2b64(n: int) -> str:
        return base64.b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode()

    pub_xml = f"<RSAKeyValue><Modulus>{i2b64(nums.n)}</Modulus><Exponent>{i2b64(nums.e)}</Exponent></RSAKeyValue>"
    me = Helpers.GetMachineCode() or _machine_id()
    now = int(time.time())

    def issue(machine: str) -> str:
        obj = {
            "ProductId": 1, "ID": 1, "Key": "BENCH-KEY", "Created": now, "Expires": now + 86400 * 365, "Period": 365,
            **{f"F{i}": i <= 2 for i in range(1, 9)}, "Notes": "", "Block": False, "GlobalId": 1, "Customer": None,
            "ActivatedMachines": [{"IP": "127.0.0.1", "Mid": machine, "Time": now, "FriendlyName": ""}],
            "TrialActivation": False, "MaxNoOfMachines": 1, "AllowedMachines": "", "DataObjects": [], "SignDate": now, "Reseller": None,
        }  # fmt: skip
        raw = json.dumps(obj).encode()
        sig = sk.sign(raw, padding.PKCS1v15(), hashes.SHA256())
        return json.dumps(
            {"licenseKey": base64.b64encode(raw).decode(), "signature": base64.b64encode(sig).decode(), "result": 0, "message": ""}
        )

    def verify(t: str) -> bool:
        lk = LicenseKey.load_from_string(pub_xml, t)
        return lk is not None and Helpers.IsOnRightMachine(lk, custom_machine_code=me) and Helpers.HasNotExpired(lk)

    import importlib.metadata

    return verify, verify, {"token": issue(me), "elsewhere_token": issue(OTHER_MACHINE), "version": importlib.metadata.version("licensing")}


def licensingpy_setup() -> tuple[Verify, Verify, dict[str, str]]:
    """licensingpy: its ECDSA-signed JSON license for this machine's composite fingerprint; verify_license recomputes the fingerprint."""
    import importlib.metadata

    from licensing.license_generator import LicenseGenerator
    from licensing.license_manager import LicenseManager

    private, public = LicenseGenerator.generate_key_pair()
    gen = LicenseGenerator(private, "bench-preseed")
    manager = LicenseManager(public, "bench-preseed")
    expiry = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%d")
    token = gen.generate_license(expiry_date=expiry)
    other = gen.generate_license(expiry_date=expiry, hardware_fingerprint="0" * 64)

    def verify(t: str) -> bool:
        return manager.is_valid(t)

    return verify, verify, {"token": token, "elsewhere_token": other, "version": importlib.metadata.version("licensingpy")}


def _tampered(name: str, token: str) -> str:
    """The license with its signed content changed and its signature kept."""
    if name == "licensing":
        resp = json.loads(token)
        obj = json.loads(base64.b64decode(resp["licenseKey"]))
        obj["MaxNoOfMachines"] = 1000
        resp["licenseKey"] = base64.b64encode(json.dumps(obj).encode()).decode()
        return json.dumps(resp)
    if name == "licensingpy":
        lic = json.loads(token)
        lic["expiry"] = "2099-12-31"
        return json.dumps(lic, separators=(",", ":"))
    body_start = token.index(".", 3) + 1 if name == "keymint" else len("v4.public.")
    return _flip(token, body_start + 20)


def main() -> int:
    name = sys.argv[1]
    verify, verify_elsewhere, info = globals()[f"{name}_setup"]()
    token = info["token"]
    checks = {
        "valid_accepted": verify(token),
        "tampered_refused": not verify(_tampered(name, token)),
        "other_machine_refused": not (verify_elsewhere(info["elsewhere_token"]) if name != "licensor" else verify_elsewhere(token)),
    }
    timed: Verify = getattr(verify, "timed", verify)
    print(json.dumps({"name": name, "version": info["version"], "checks": checks, "license_bytes": len(token)}), flush=True)
    for line in sys.stdin:
        n = int(line)
        t = time.perf_counter()
        for _ in range(n):
            timed(token)
        print((time.perf_counter() - t) / n * 1e6, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
