"""The Node.js verifier in examples/verify-js gives the Python core's verdict on every vector.

Every token and license file in tests/vectors/ is checked by both, clean and
damaged the ways FORMAT.md names, under installations and clocks that reach every
verdict code; so are keys signed with claims that break FORMAT.md's schema one
rule at a time.  Node and npm are needed: without them the test is skipped,
unless ``LICENSOR_REQUIRE_NODE=1`` (CI) makes their absence a failure.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.bindings
import pytest

from licensor import Installation, Keyring, VendorKey, check
from licensor.signing import paseto_sign

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "examples" / "verify-js"
VECTORS = ROOT / "tests" / "vectors"
OURS = json.loads((VECTORS / "licensor-v1.json").read_text())
VENDOR = VendorKey(bytes.fromhex(OURS["vendor"]["seed_hex"]))
OTHER_VENDOR = VendorKey(bytes(range(100, 132)))


def _node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        if os.environ.get("LICENSOR_REQUIRE_NODE") == "1":
            pytest.fail("node and npm are required here (LICENSOR_REQUIRE_NODE=1) but not on PATH")
        pytest.skip("node and npm are not installed")
    if not (JS / "node_modules" / "paseto").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300, capture_output=True)
    return node


def _strings(tree: Any, names: tuple[str, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every string under one of ``names`` in a vector file, or that holds a license key, with the object holding it."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if isinstance(v, str) and (k in names or "v4.public." in v or "LICENSOR LICENSE" in v):
                yield v, tree
            else:
                yield from _strings(v, names)
    elif isinstance(tree, list):
        for v in tree:
            if isinstance(v, str) and ("v4.public." in v or "LICENSOR LICENSE" in v):
                yield v, {}
            else:
                yield from _strings(v, names)


INST = Installation(
    id=OURS["installation"]["id"],
    product=OURS["licenses"][0]["claims"]["aud"],
    factors=OURS["installation"]["factors"],
)
T_VALID = datetime(2026, 6, 1, tzinfo=UTC)
NOWS = [
    datetime(2026, 2, 1, tzinfo=UTC),  # before nbf
    T_VALID,
    datetime(2027, 3, 3, tzinfo=UTC),  # after a subscription's exp, inside its grace days
    datetime(2027, 4, 1, tzinfo=UTC),  # after the grace days
    datetime(2031, 1, 1, tzinfo=UTC),
]


def _installations(inst: Installation, now: datetime) -> list[Installation]:
    f = dict(inst.factors)
    return [
        inst,
        replace(inst, product="another-product"),
        replace(inst, id="ZZZZ-ZZZZ-ZZZZ-ZZZZ"),
        replace(inst, factors={**f, "cluster": "0000000000000000"}),
        replace(inst, factors={**f, "machine": "0000000000000000"}),
        replace(inst, factors={k: v for k, v in f.items() if k != "hostname"}),
        replace(inst, factors={}),
        replace(inst, highest_serial=5),
        replace(inst, trusted_time=now + timedelta(days=3)),  # clock rolled back
        replace(inst, trusted_time=now + timedelta(hours=2)),  # small skew: tolerated
    ]


def _sign(claims: Any, footer: bytes | None = None, key: VendorKey = VENDOR) -> str:
    message = claims if isinstance(claims, bytes) else json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    if footer is None:
        footer = json.dumps({"kid": key.kid}, separators=(",", ":")).encode()
    return paseto_sign(nacl.bindings.crypto_sign_seed_keypair(key.seed)[1], message, footer)


def _bad_claims() -> Iterator[Any]:
    """Signed claims that break FORMAT.md's schema (or test its edges), one rule at a time."""
    good = OURS["licenses"][0]["claims"]
    for name in good:
        c = dict(good)
        del c[name]
        yield c
    changes: list[tuple[str, Any]] = [
        ("lv", 2),
        ("lv", "1"),
        ("nodes", -1),
        ("nodes", "5"),
        ("nodes", True),
        ("serial", None),
        ("grace_days", 1.5),
        ("type", "trial"),
        ("features", "fips"),
        ("features", [1]),
        ("jti", ""),
        ("customer", 7),
        # ("exp", None) is left out: the Python core reads it as no expiry, paseto (JS) refuses it; see FORMAT.md.
        ("exp", "2027-03-01T09:30:00+01:00"),
        ("nbf", "2026-03-01T10:30:00+01:00"),
        ("maintenance_until", "2027-03-01T09:30:00"),
        ("maintenance_until", "soon"),
        ("iat", 1767225600),
        ("binding", "cluster"),
        ("binding", {"factors": {"cluster": 5}, "require": [], "k": 0}),
        ("binding", {"factors": {}, "require": "cluster", "k": 0}),
        ("binding", {"factors": {}, "require": [], "k": "1"}),
        ("binding", {}),
        ("binding", {"factors": OURS["installation"]["factors"], "require": [], "k": 2}),  # k of n without a cluster
        ("binding", {"factors": OURS["installation"]["factors"], "require": [], "k": 3}),
        ("binding", {"factors": OURS["installation"]["factors"], "require": ["machine", "hostname"], "k": 0}),
        ("unknown_claim", {"ignored": True}),
    ]
    for name, value in changes:
        c = copy.deepcopy(good)
        c[name] = value
        yield c
    yield b"not json"
    yield b"[1, 2]"
    yield b"\xff\xfe"


def _damaged(token: str, file: str | None) -> Iterator[str]:
    """The paste damage FORMAT.md tolerates, and the changes it must refuse."""
    yield token
    yield f"  {token}\r\n"
    yield "\u201c" + token + "\u201d"
    yield token[:40] + "\u200b" + token[40:]
    yield "\n".join(token[i : i + 60] for i in range(0, len(token), 60))
    yield "\n".join("> " + token[i : i + 70] for i in range(0, len(token), 70))
    body_end = token.rindex(".") if token.count(".") == 3 else len(token)
    mid = (len("v4.public.") + body_end) // 2
    for at in (12, mid, body_end - 1, body_end - 3, len(token) - 1, len(token) - 5):
        for ch in "AQgw_":
            if token[at] != ch:
                yield token[:at] + ch + token[at + 1 :]
                break
    yield token[: len(token) // 2]
    yield token[:body_end]
    yield token[:body_end] + "."
    yield token + "="
    yield token + "."
    yield token.replace("v4.public.", "v4.local.", 1)
    yield token.replace("v4.public.", "v3.public.", 1)
    yield token.replace("v4.public.", "V4.public.", 1)
    yield token.replace("-", "+")
    yield token + " trailing words"
    yield ""
    yield " \n\t"
    yield "not a key"
    yield "-----BEGIN LICENSOR LICENSE-----\n" + token + "\n"
    yield "-----BEGIN LICENSOR REQUEST-----\n\n" + token + "\n-----END LICENSOR REQUEST-----\n"
    yield "x" * (65 * 1024)
    if file is not None:
        yield file
        yield file.replace("\n", "\r\n")
        yield "".join("> " + ln + "\n" for ln in file.splitlines())
        yield "Hi,\n\nyour key:\n\n" + file + "\nregards\n"
        yield file.replace("Nodes: ", "Nodes: 9")  # headers inform; only the token decides
        yield file.replace("-----END LICENSOR LICENSE-----", "")


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []

    def add(text: str, ring: list[VendorKey | str], inst: Installation, now: datetime) -> None:
        keys = [k if isinstance(k, str) else k.paserk_public() for k in ring]
        cases.append({"text": text, "keys": keys, "installation": inst, "now": now})

    # Every license token and file in the vectors: every installation and clock, then every damage.
    files = {t: obj.get("file") for t, obj in _strings(OURS, ("token",))}
    for vector_file in sorted(VECTORS.glob("*.json")):
        tree = json.loads(vector_file.read_text())
        for text, obj in _strings(tree, ("token", "file", "input", "text")):
            if "public-key" in obj:  # the official PASETO vectors: their own key, not licensor's claims
                add(text, ["k4.public." + _b64(bytes.fromhex(obj["public-key"]))], INST, T_VALID)
                add(text, [VENDOR], INST, T_VALID)
                continue
            for now in NOWS:
                for inst in _installations(INST, now):
                    add(text, [VENDOR], inst, now)
            add(text, [OTHER_VENDOR], INST, T_VALID)
            add(text, [OTHER_VENDOR, VENDOR], INST, T_VALID)
            if text in files:
                for damaged in _damaged(text, files[text]):
                    add(damaged, [VENDOR], INST, T_VALID)
    # Keys whose signed claims break the schema; footers that name no key or an unknown one.
    for claims in _bad_claims():
        token = _sign(claims)
        for now in (T_VALID, NOWS[2]):
            for inst in _installations(INST, now)[:6]:
                add(token, [VENDOR], inst, now)
    good = OURS["licenses"][0]["claims"]
    for footer in (b"", b"{}", b'{"kid":5}', b'{"kid":"k3.pid.x"}', b"[]", b"kid", json.dumps({"kid": OTHER_VENDOR.kid}).encode()):
        add(_sign(good, footer), [VENDOR], INST, T_VALID)
    add(_sign(good, key=OTHER_VENDOR), [OTHER_VENDOR], INST, T_VALID)
    add(_sign(good, key=OTHER_VENDOR), [VENDOR], INST, T_VALID)
    return cases


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _inst_json(inst: Installation) -> dict[str, Any]:
    return {
        "id": inst.id,
        "product": inst.product,
        "factors": dict(inst.factors),
        "highestSerial": inst.highest_serial,
        "trustedTime": inst.trusted_time.isoformat() if inst.trusted_time else None,
    }


def test_node_verifier_agrees_with_the_python_core_on_every_vector() -> None:
    """Same text, key set, installation and clock: the Node verifier gives the Python core's verdict code, every time."""
    node = _node()
    cases = _cases()
    rings = {tuple(c["keys"]): Keyring.from_text("\n".join(c["keys"])) for c in cases}
    expected = [check(c["text"], rings[tuple(c["keys"])], c["installation"], c["now"]).code for c in cases]
    payload = [{**c, "installation": _inst_json(c["installation"]), "now": c["now"].isoformat()} for c in cases]
    out = subprocess.run(
        [node, "cli.js", "--batch"], cwd=JS, input=json.dumps(payload), capture_output=True, text=True, timeout=300, check=True
    )
    got = [r["code"] for r in json.loads(out.stdout)]
    assert len(got) == len(expected)
    differ = [(c["text"][:90], c["now"], e, g) for c, e, g in zip(cases, expected, got, strict=True) if e != g]
    assert not differ, f"{len(differ)} of {len(cases)} verdicts differ, first ones: {differ[:5]}"
    # The cases reach every verdict a key can get, so agreement means something for each.
    seen = Counter(expected)
    for code in ("valid", "malformed", "bad_signature", "unknown_key", "wrong_product", "wrong_installation", "superseded"):
        assert seen[code] > 0, code
    for code in ("clock_rollback", "not_yet_valid", "expired", "grace", "missing"):
        assert seen[code] > 0, code


def test_node_derives_the_installation_id_and_factor_hashes_of_the_vectors() -> None:
    """installationId and hashFactors in verify.js reproduce the vectors' installation id and factor hashes."""
    node = _node()
    inst = OURS["installation"]
    script = (
        "import { installationId, hashFactors, keyId } from './verify.js';"
        f"const pk = Buffer.from('{inst['public_key_hex']}', 'hex');"
        f"console.log(JSON.stringify([installationId(pk), hashFactors(pk, {json.dumps(inst['raw_factors'])}),"
        f" keyId('{OURS['vendor']['paserk_public']}')]))"
    )
    out = subprocess.run([node, "--input-type=module", "-e", script], cwd=JS, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == [inst["id"], inst["factors"], OURS["vendor"]["kid"]]
