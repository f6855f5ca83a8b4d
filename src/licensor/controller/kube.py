"""The Kubernetes cluster id: the ``kube-system`` namespace UID, read through the pod's service account.

A controller in a pod (``KUBERNETES_SERVICE_HOST`` set) asks the API server for
``GET /api/v1/namespaces/kube-system`` with its service-account token, over TLS
verified against the service-account CA, and takes ``metadata.uid``: the same
value ``kubectl get namespace kube-system -o jsonpath='{.metadata.uid}'`` prints,
so a key bound to a hand-set ``LICENSOR_CLUSTER_ID`` of that value keeps applying.

It fails closed: every way this can go wrong is a ``LicensorError`` with its own
code and the remedy (which RBAC to grant, or ``LICENSOR_CLUSTER_ID``); a pod never
falls back to a per-host id, which would bind the license to one pod.

    cluster_id_no_service_account   UsageError          no token or CA file in the pod
    cluster_id_unauthorized         Unauthorized        the API server refused the token (401)
    cluster_id_forbidden            Forbidden           the service account may not get the namespace (403)
    cluster_id_untrusted            VerificationError   the API server's certificate does not verify against the CA
    cluster_id_unavailable          Unavailable         no answer, or an answer other than 200/401/403
    cluster_id_malformed            MalformedError      a 200 that is not the kube-system namespace with a UID
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Forbidden, LicensorError, MalformedError, Unauthorized, Unavailable, UsageError, VerificationError

__all__ = ["SERVICE_ACCOUNT_DIR", "ServiceAccount", "cluster_uid", "in_pod"]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_FILE_ENV = "LICENSOR_KUBE_TOKEN_FILE"  # noqa: S105 (the name of a variable, not a secret)
CA_FILE_ENV = "LICENSOR_KUBE_CA_FILE"
NAMESPACE_PATH = "/api/v1/namespaces/kube-system"
MAX_ANSWER = 1024 * 1024  # a namespace object is a few hundred bytes
TIMEOUT = 10.0
OVERRIDE = "or set LICENSOR_CLUSTER_ID to the namespace's UID (kubectl get namespace kube-system -o jsonpath='{.metadata.uid}')"


def in_pod(env: Mapping[str, str]) -> bool:
    """Whether this process runs in a Kubernetes pod (the kubelet sets ``KUBERNETES_SERVICE_HOST``)."""
    return bool(env.get("KUBERNETES_SERVICE_HOST"))


@dataclass(frozen=True)
class ServiceAccount:
    """Where the API server is and the pod's credentials for it."""

    host: str
    port: int
    token_file: Path
    ca_file: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceAccount:
        """The API server from ``KUBERNETES_SERVICE_HOST``/``_PORT``; the files from the mount, or
        ``LICENSOR_KUBE_TOKEN_FILE``/``LICENSOR_KUBE_CA_FILE``."""
        port = env.get("KUBERNETES_SERVICE_PORT") or "443"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(
                f"KUBERNETES_SERVICE_PORT is {port!r}, not a port number: the pod's environment is not the kubelet's; fix it, {OVERRIDE}",
                code="cluster_id_no_service_account",
            )
        base = Path(SERVICE_ACCOUNT_DIR)
        return cls(
            host=env["KUBERNETES_SERVICE_HOST"].strip("[]"),
            port=int(port),
            token_file=Path(env.get(TOKEN_FILE_ENV) or base / "token"),
            ca_file=Path(env.get(CA_FILE_ENV) or base / "ca.crt"),
        )


def _read_credential(path: Path, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as e:
        value, reason = "", e.strerror or str(e)
    else:
        reason = "it is empty"
    if not value:
        raise UsageError(
            f"The controller runs in a Kubernetes pod and reads the cluster id through its service account, "
            f"but cannot read the {what} at {path} ({reason}): run the pod with a service account and "
            f"automountServiceAccountToken: true (deploy/kubernetes does), {OVERRIDE}",
            code="cluster_id_no_service_account",
        )
    return value


def _token_subject(token: str) -> str:
    """``system:serviceaccount:NS:NAME`` from the token's ``sub`` claim (for messages only, never trusted)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        sub = claims.get("sub") if isinstance(claims, dict) else None
    except (IndexError, ValueError):
        sub = None
    return sub if isinstance(sub, str) and sub.startswith("system:serviceaccount:") else ""


def _grant(subject: str) -> str:
    """The RBAC that lets ``subject`` (``system:serviceaccount:NS:NAME``) read the namespace, as commands to run."""
    parts = subject.split(":")
    target = f"{parts[2]}:{parts[3]}" if len(parts) == 4 else "NAMESPACE:SERVICE_ACCOUNT"
    return (
        "grant it 'get' on namespaces, resourceNames [kube-system] only: "
        "kubectl create clusterrole licensor-cluster-id --verb=get --resource=namespaces --resource-name=kube-system && "
        f"kubectl create clusterrolebinding licensor-cluster-id --clusterrole=licensor-cluster-id --serviceaccount={target} "
        "(deploy/kubernetes/rbac.yaml is the same as a manifest)"
    )


def _get(sa: ServiceAccount, token: str, timeout: float) -> tuple[int, bytes]:
    where = f"https://{f'[{sa.host}]' if ':' in sa.host else sa.host}:{sa.port}{NAMESPACE_PATH}"
    try:
        context = ssl.create_default_context(cafile=str(sa.ca_file))
    except (OSError, ssl.SSLError) as e:
        raise UsageError(
            f"The service-account CA at {sa.ca_file} is not a certificate file ({e}): mount the pod's own, {OVERRIDE}",
            code="cluster_id_no_service_account",
        ) from None
    conn = http.client.HTTPSConnection(sa.host, sa.port, timeout=timeout, context=context)
    try:
        conn.request("GET", NAMESPACE_PATH, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read(MAX_ANSWER + 1)
    except ssl.SSLCertVerificationError as e:
        raise VerificationError(
            f"The Kubernetes API server at {where} presented a certificate that does not verify against the "
            f"service-account CA at {sa.ca_file} ({e.verify_message}): the cluster id is not read from a server "
            f"that cannot prove it is the API server; check KUBERNETES_SERVICE_HOST and the CA, {OVERRIDE}",
            code="cluster_id_untrusted",
        ) from None
    except (OSError, http.client.HTTPException) as e:
        raise Unavailable(
            f"The Kubernetes API server at {where} did not answer ({e or type(e).__name__}), so the cluster id "
            f"cannot be read: let the pod reach the API server (network policy, egress), {OVERRIDE}",
            code="cluster_id_unavailable",
        ) from None
    finally:
        conn.close()


def _status_message(body: bytes) -> str:
    """The ``message`` of an API server ``Status`` answer, or ``""``."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    message = doc.get("message") if isinstance(doc, dict) else None
    return message[:300] if isinstance(message, str) else ""


def _refusal(sa: ServiceAccount, token: str, status: int, body: bytes) -> LicensorError:
    subject = _token_subject(token) or "the pod's service account"
    said = _status_message(body)
    details: dict[str, Any] = {"status": status, "subject": subject} | ({"api_message": said} if said else {})
    if status == 401:
        return Unauthorized(
            f"The Kubernetes API server refused the service-account token at {sa.token_file} (401): the token expired "
            f"or was revoked; restart the pod to mount a fresh one, {OVERRIDE}",
            code="cluster_id_unauthorized",
            details=details,
        )
    if status == 403:
        return Forbidden(
            f"The controller reads the cluster id from the kube-system namespace, but {subject} may not get it "
            f"(403): {_grant(subject)}, {OVERRIDE}",
            code="cluster_id_forbidden",
            details=details,
        )
    return Unavailable(
        f"The Kubernetes API server answered {status} to GET {NAMESPACE_PATH}, so the cluster id cannot be read: "
        f"try again when the API server is healthy, {OVERRIDE}",
        code="cluster_id_unavailable",
        details=details,
    )


def _uid(body: bytes) -> str:
    """``metadata.uid`` of a ``kube-system`` Namespace object, checked; ``MalformedError`` otherwise."""
    try:
        doc = json.loads(body) if len(body) <= MAX_ANSWER else None
    except ValueError:
        doc = None
    meta = doc.get("metadata") if isinstance(doc, dict) and doc.get("kind") == "Namespace" else None
    uid = meta.get("uid") if isinstance(meta, dict) and meta.get("name") == "kube-system" else None
    try:
        if isinstance(uid, str) and str(uuid.UUID(uid)) == uid.lower():
            return uid
    except ValueError:
        pass
    raise MalformedError(
        f"The answer to GET {NAMESPACE_PATH} is not the kube-system Namespace with a UUID in metadata.uid "
        f"({len(body)} bytes): something other than the Kubernetes API server answered; check KUBERNETES_SERVICE_HOST, "
        f"{OVERRIDE}",
        code="cluster_id_malformed",
    )


def cluster_uid(sa: ServiceAccount, *, timeout: float = TIMEOUT) -> str:
    """The ``kube-system`` namespace UID, read with ``sa``'s token over TLS verified against ``sa``'s CA."""
    token = _read_credential(sa.token_file, "service-account token")
    _read_credential(sa.ca_file, "service-account CA")
    status, body = _get(sa, token, timeout)
    if status != 200:
        raise _refusal(sa, token, status, body)
    return _uid(body)
