"""Read this host's fingerprint factors (the only I/O of the binding).

Each factor may be set by an environment variable, which is how a deployment
states its cluster id and how containers with no stable machine id name one.

In a Kubernetes pod (``KUBERNETES_SERVICE_HOST`` set) the cluster factor is the
``kube-system`` namespace UID, read through the pod's service account
(``licensor.controller.kube``) unless ``LICENSOR_CLUSTER_ID`` names it.  A pod that
cannot read it is refused with the reason (``cluster_id_…``): it never falls back
to the pod's own host factors alone, which would bind the license to one pod.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

ENV = {
    "cluster": "LICENSOR_CLUSTER_ID",
    "machine": "LICENSOR_MACHINE_ID",
    "dmi": "LICENSOR_DMI_UUID",
    "hostname": "LICENSOR_HOSTNAME",
}


def _read(*paths: str) -> str:
    for p in paths:
        try:
            value = Path(p).read_text().strip()
        except OSError:
            continue
        if value:
            return value
    return ""


def _kubernetes_cluster_id(env: Mapping[str, str]) -> str:
    """The ``kube-system`` namespace UID in a pod (raises when it cannot be read); ``""`` outside one."""
    from . import kube  # only pods pay for ssl and http.client

    return kube.cluster_uid(kube.ServiceAccount.from_env(env)) if kube.in_pod(env) else ""


def collect_factors(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Raw factor values of this host; empty ones are left out.

    Raises a ``LicensorError`` (``cluster_id_…``) in a pod whose cluster id cannot be read."""
    env = os.environ if env is None else env
    found = {
        "cluster": "",
        "machine": _read("/etc/machine-id", "/var/lib/dbus/machine-id"),
        "dmi": _read("/sys/class/dmi/id/product_uuid"),
        "hostname": socket.gethostname(),
    }
    for name, var in ENV.items():
        if env.get(var):
            found[name] = env[var]
    if not found["cluster"]:
        found["cluster"] = _kubernetes_cluster_id(env)
    return {k: v for k, v in found.items() if v}
