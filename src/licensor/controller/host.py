"""Read this host's fingerprint factors (the only I/O of the binding).

Each factor may be set by an environment variable, which is how a deployment
states its cluster id (e.g. the kube-system namespace UID, passed in by the
chart) and how containers with no stable machine id name one.
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


def collect_factors(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Raw factor values of this host; empty ones are left out."""
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
    return {k: v for k, v in found.items() if v}
