"""The Kubernetes cluster id, read from a local HTTPS server that answers like the API server.

No cluster runs here: ``FakeAPIServer`` is a real TLS server on 127.0.0.1 with a
throwaway CA, checking the Bearer token and answering the ``kube-system``
Namespace (or a refusal, or garbage).  The reader verifies TLS against the CA
given as the service-account CA, as in a pod.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from licensor.controller import kube
from licensor.controller.host import collect_factors
from licensor.errors import Forbidden, LicensorError, MalformedError, Unauthorized, Unavailable, UsageError, VerificationError
from licensor.identity import hash_factor
from licensor.policy import Installation
from licensor.request import decode_request
from licensor.testing import TestVendor

from ..helpers import run_licensor

UID = str(uuid.uuid4())
SUBJECT = "system:serviceaccount:licensor:licensor-controller"


def _part(claims: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def _token(sub: str) -> str:
    """A JWT-shaped token like a projected service-account token (the reader never trusts its claims)."""
    return f"{_part({'alg': 'RS256'})}.{_part({'sub': sub, 'iss': 'https://kubernetes.default.svc'})}.c2ln"


TOKEN = _token(SUBJECT)


class CA:
    """A throwaway certificate authority, as a cluster's service-account CA."""

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(subject, self.key.public_key())
            .issuer_name(subject)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @staticmethod
    def _builder(subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def server(self, tmp: Path, *, ip: str = "127.0.0.1") -> tuple[Path, Path]:
        """A server certificate for ``ip`` signed by this CA, as (certificate file, key file)."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), key.public_key())
            .issuer_name(self.cert.subject)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(ip))]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = tmp / f"server-{ip}.crt", tmp / f"server-{ip}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + self.pem())
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cert_file, key_file


def _namespace(uid: str = UID, name: str = "kube-system") -> bytes:
    return json.dumps({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "uid": uid, "resourceVersion": "4"}}).encode()


def _status(code: int, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": code}).encode()


FORBIDDEN = (
    f'namespaces "kube-system" is forbidden: User "{SUBJECT}" cannot get resource "namespaces" '
    'in API group "" in the namespace "kube-system"'
)


class FakeAPIServer:
    """An HTTPS server on 127.0.0.1 answering ``GET /api/v1/namespaces/kube-system`` like the API server.

    ``answer`` is ``(status, body)`` for a request with the right token; a wrong
    token gets 401 and another path 404, as from the real one."""

    def __init__(self, cert: Path, key: Path, host: str = "127.0.0.1"):
        self.answer: tuple[int, bytes] = (200, _namespace())
        self.token = TOKEN
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                if self.headers.get("Authorization") != f"Bearer {outer.token}":
                    status, body = 401, _status(401, "Unauthorized")
                elif self.path != kube.NAMESPACE_PATH:
                    status, body = 404, _status(404, "the server could not find the requested resource")
                else:
                    status, body = outer.answer
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.httpd = type("Server", (ThreadingHTTPServer,), {"address_family": family})((host, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Pod:
    """What a pod has: the kubelet's environment and the mounted service account (in a temporary folder)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.ca = CA("kubernetes")
        self.server = FakeAPIServer(*self.ca.server(tmp))
        self.token_file, self.ca_file = tmp / "token", tmp / "ca.crt"
        self.token_file.write_text(TOKEN + "\n")
        self.ca_file.write_bytes(self.ca.pem())

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.server.port),
            "LICENSOR_KUBE_TOKEN_FILE": str(self.token_file),
            "LICENSOR_KUBE_CA_FILE": str(self.ca_file),
            **extra,
        }

    def read(self, **extra: str) -> str:
        return kube.cluster_uid(kube.ServiceAccount.from_env(self.env(**extra)), timeout=5)


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Pod]:
    p = Pod(tmp_path)
    yield p
    p.server.close()


class TestReader:
    def test_reads_the_kube_system_uid_with_the_token(self, pod: Pod) -> None:
        """The UID comes from GET /api/v1/namespaces/kube-system, asked with the service-account token."""
        assert pod.read() == UID
        (req,) = pod.server.requests
        assert req["path"] == "/api/v1/namespaces/kube-system"
        assert req["authorization"] == f"Bearer {TOKEN}"
        assert req["accept"] == "application/json"

    def test_the_defaults_are_the_service_account_mount(self) -> None:
        """Without overrides the token and CA are the kubelet's mount and the port is 443."""
        sa = kube.ServiceAccount.from_env({"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
        assert sa == kube.ServiceAccount(
            "10.96.0.1",
            443,
            Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
            Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
        )

    def test_an_ipv6_api_server(self, pod: Pod, tmp_path: Path) -> None:
        """An IPv6 service address, as the kubelet sets it (no brackets), is asked and verified as such."""
        pod.server.close()
        pod.server = FakeAPIServer(*pod.ca.server(tmp_path, ip="::1"), host="::1")
        assert pod.read(KUBERNETES_SERVICE_HOST="::1") == UID

    def test_a_server_the_ca_did_not_sign_is_not_believed(self, pod: Pod, tmp_path: Path) -> None:
        """TLS is verified against the service-account CA: another CA's server gets no request."""
        pod.ca_file.write_bytes(CA("another cluster").pem())
        with pytest.raises(VerificationError) as e:
            pod.read()
        assert e.value.code == "cluster_id_untrusted"
        assert str(pod.ca_file) in e.value.hint and "LICENSOR_CLUSTER_ID" in e.value.hint
        assert pod.server.requests == []

    def test_a_certificate_for_another_address_is_not_believed(self, pod: Pod, tmp_path: Path) -> None:
        """The certificate must name the API server's address, not just chain to the CA."""
        pod.server.close()
        pod.server = FakeAPIServer(*pod.ca.server(tmp_path, ip="127.0.0.2"))
        with pytest.raises(VerificationError) as e:
            pod.read()
        assert e.value.code == "cluster_id_untrusted"
        assert pod.server.requests == []

    def test_forbidden_says_which_rbac_to_grant(self, pod: Pod) -> None:
        """A 403 is refused with the exact ClusterRole and binding to create, for this service account."""
        pod.server.answer = (403, _status(403, FORBIDDEN))
        with pytest.raises(Forbidden) as e:
            pod.read()
        err = e.value
        assert (err.code, err.http_status, err.exit_code) == ("cluster_id_forbidden", 403, 1)
        assert "--verb=get --resource=namespaces --resource-name=kube-system" in err.hint
        assert "--serviceaccount=licensor:licensor-controller" in err.hint
        assert "deploy/kubernetes/rbac.yaml" in err.hint and "LICENSOR_CLUSTER_ID" in err.hint
        assert err.details == {"status": 403, "subject": SUBJECT, "api_message": FORBIDDEN}

    def test_forbidden_without_a_readable_token_subject_still_names_the_rule(self, pod: Pod) -> None:
        """A token that is not a JWT: the hint names the rule with placeholders for the account."""
        pod.server.token = "opaque-token"
        pod.token_file.write_text(pod.server.token)
        pod.server.answer = (403, b"forbidden")
        with pytest.raises(Forbidden) as e:
            pod.read()
        assert "--serviceaccount=NAMESPACE:SERVICE_ACCOUNT" in e.value.hint
        assert e.value.details == {"status": 403, "subject": "the pod's service account"}

    def test_a_refused_token_is_unauthorized(self, pod: Pod) -> None:
        """A token the API server does not accept (expired, revoked) is a 401 with that remedy."""
        pod.token_file.write_text(_token(SUBJECT) + "x")
        with pytest.raises(Unauthorized) as e:
            pod.read()
        assert e.value.code == "cluster_id_unauthorized"
        assert str(pod.token_file) in e.value.hint

    @pytest.mark.parametrize(
        "body",
        [
            b"<html>login</html>",
            b"[]",
            b'{"kind": "Namespace"}',
            json.dumps({"kind": "Status", "metadata": {"name": "kube-system", "uid": UID}}).encode(),
            _namespace(name="default"),
            _namespace(uid=""),
            _namespace(uid="not-a-uuid"),
            _namespace(uid=UID.upper() + " "),
            b'{"kind": "Namespace", "metadata": {"name": "kube-system", "uid": 7}}',
            _namespace()[:-1] + b" " * kube.MAX_ANSWER + b"}",
        ],
        ids=["html", "list", "no-metadata", "not-a-namespace", "other-namespace", "empty-uid", "not-uuid", "padded", "number", "huge"],
    )
    def test_garbage_is_malformed(self, pod: Pod, body: bytes) -> None:
        """A 200 that is not the kube-system Namespace with a UUID is refused, never taken as an id."""
        pod.server.answer = (200, body)
        with pytest.raises(MalformedError) as e:
            pod.read()
        assert e.value.code == "cluster_id_malformed"
        assert "LICENSOR_CLUSTER_ID" in e.value.hint

    @pytest.mark.parametrize("status", [404, 500, 503])
    def test_other_answers_are_unavailable(self, pod: Pod, status: int) -> None:
        """Any other status is an outage, named with the status."""
        pod.server.answer = (status, _status(status, "etcdserver: request timed out"))
        with pytest.raises(Unavailable) as e:
            pod.read()
        assert e.value.code == "cluster_id_unavailable"
        assert f"answered {status}" in e.value.hint

    def test_nobody_listening_is_unavailable(self, pod: Pod) -> None:
        """No API server at the address: unavailable, with the address."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with pytest.raises(Unavailable) as e:
            pod.read(KUBERNETES_SERVICE_PORT=str(port))
        assert e.value.code == "cluster_id_unavailable"
        assert f"https://127.0.0.1:{port}/api/v1/namespaces/kube-system" in e.value.hint

    @pytest.mark.parametrize("missing", ["token", "ca"])
    def test_no_service_account_mounted(self, pod: Pod, missing: str) -> None:
        """No token or CA in the pod (automount off): refused with that remedy, nothing asked."""
        (pod.token_file if missing == "token" else pod.ca_file).unlink()
        with pytest.raises(UsageError) as e:
            pod.read()
        assert e.value.code == "cluster_id_no_service_account"
        assert "automountServiceAccountToken" in e.value.hint
        assert pod.server.requests == []

    def test_a_ca_file_that_is_not_a_certificate(self, pod: Pod) -> None:
        """A CA file with garbage is a usage error, not a reason to skip verification."""
        pod.ca_file.write_text("not a certificate")
        with pytest.raises(UsageError) as e:
            pod.read()
        assert e.value.code == "cluster_id_no_service_account"
        assert pod.server.requests == []

    @pytest.mark.parametrize("port", ["https", "0", "70000"])
    def test_a_bad_port(self, port: str) -> None:
        """KUBERNETES_SERVICE_PORT that is not a port is refused."""
        with pytest.raises(UsageError) as e:
            kube.ServiceAccount.from_env({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": port})
        assert e.value.code == "cluster_id_no_service_account"


class TestCollectFactors:
    def test_in_a_pod_the_cluster_factor_is_the_uid(self, pod: Pod) -> None:
        """In a pod the cluster factor is read from the API server; the host factors stay."""
        factors = collect_factors(pod.env(LICENSOR_MACHINE_ID="m-1", LICENSOR_HOSTNAME="pod-a"))
        assert factors["cluster"] == UID
        assert (factors["machine"], factors["hostname"]) == ("m-1", "pod-a")

    def test_licensor_cluster_id_overrides_and_asks_nothing(self, pod: Pod) -> None:
        """LICENSOR_CLUSTER_ID wins, and the API server is not asked (a pod without RBAC works)."""
        pod.server.answer = (403, _status(403, FORBIDDEN))
        assert collect_factors(pod.env(LICENSOR_CLUSTER_ID="set-by-hand"))["cluster"] == "set-by-hand"
        assert pod.server.requests == []

    @pytest.mark.parametrize("answer", [(403, _status(403, FORBIDDEN)), (200, b"garbage")])
    def test_a_pod_that_cannot_read_it_fails_closed(self, pod: Pod, answer: tuple[int, bytes]) -> None:
        """No per-host fallback in a pod: collecting the factors raises."""
        pod.server.answer = answer
        with pytest.raises(LicensorError) as e:
            collect_factors(pod.env(LICENSOR_MACHINE_ID="m-1"))
        assert e.value.code.startswith("cluster_id_")

    def test_outside_a_pod_nothing_is_asked(self, pod: Pod) -> None:
        """Without KUBERNETES_SERVICE_HOST there is no cluster factor unless it is set."""
        env = {k: v for k, v in pod.env().items() if k != "KUBERNETES_SERVICE_HOST"}
        assert "cluster" not in collect_factors(env)
        assert pod.server.requests == []


class TestController:
    """The real ``licensor`` command in a pod-like environment."""

    def _run(self, pod: Pod, *args: str, **env: str) -> Any:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LICENSOR_", "KUBERNETES_"))}
        return run_licensor(*args, "--data-dir", str(pod.tmp / "data"), env={**base, **pod.env(**env)}, timeout=60)

    def test_the_license_follows_the_cluster_not_the_pod(self, pod: Pod) -> None:
        """Bound to the read UID: another pod of the cluster keeps it, another cluster is refused."""
        vendor = TestVendor()
        (pod.tmp / "vendor.pub").write_text(vendor.keyring.to_text())
        assert self._run(pod, "controller", "init", "--trust", str(pod.tmp / "vendor.pub")).returncode == 0
        out = pod.tmp / "request.txt"
        made = self._run(pod, "controller", "request", "--name", "A", "--email", "a@example.com", "--company", "C",
                         "--nodes", "5", "--months", "12", "--out", str(out), LICENSOR_HOSTNAME="pod-a")  # fmt: skip
        assert made.returncode == 0, made.stderr
        req = decode_request(out.read_text())
        assert req.factors["cluster"] == hash_factor(req.public_key, "cluster", UID)
        key = vendor.issue(Installation(req.installation_id, req.product, req.factors), nodes=5,
                           now=datetime.now(UTC) - timedelta(minutes=1))  # fmt: skip
        (pod.tmp / "license.key").write_text(key)
        assert self._run(pod, "controller", "activate", str(pod.tmp / "license.key"), LICENSOR_HOSTNAME="pod-a").returncode == 0
        other_pod = self._run(pod, "controller", "status", LICENSOR_HOSTNAME="pod-b", LICENSOR_MACHINE_ID="another-node")
        assert other_pod.returncode == 0, other_pod.stdout + other_pod.stderr
        pod.server.answer = (200, _namespace(uid=str(uuid.uuid4())))
        other_cluster = self._run(pod, "controller", "status", LICENSOR_HOSTNAME="pod-a")
        assert other_cluster.returncode == 1
        assert "wrong_installation" in other_cluster.stdout

    def test_serve_refuses_to_start_without_the_rbac(self, pod: Pod) -> None:
        """'controller serve' in a pod whose account may not read the namespace exits with the remedy."""
        pod.server.answer = (403, _status(403, FORBIDDEN))
        done = self._run(pod, "controller", "serve", "--port", "0")
        assert done.returncode == 1
        assert done.stderr.startswith("licensor: cluster_id_forbidden: ")
        assert "--resource-name=kube-system" in done.stderr and "LICENSOR_CLUSTER_ID" in done.stderr
