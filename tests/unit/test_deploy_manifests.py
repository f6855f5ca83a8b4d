"""deploy/kubernetes: the manifests say what the controller needs, and kustomize renders them.

Every check runs on the rendered objects: ``kubectl kustomize`` where kubectl is on
PATH, otherwise the same render done here (resources, namespace, images), so a
machine without kubectl still checks every manifest; ``TestKubectl`` adds the real
render where it can.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from licensor.cli import build_parser
from licensor.controller import kube

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
NAMESPACED = {"ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", "Job", "Secret", "ConfigMap"}
POD_LABELS = {"app.kubernetes.io/name": "licensor-controller"}

Obj = dict[str, Any]


def _load(path: Path) -> list[Obj]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs and all(isinstance(d, dict) for d in docs), f"{path}: not YAML objects"
    return docs


def _kustomization(folder: Path) -> Obj:
    (k,) = _load(folder / "kustomization.yaml")
    assert k["kind"] == "Kustomization"
    return k


def _render_here(folder: Path) -> list[Obj]:
    """What ``kubectl kustomize`` does with these kustomizations: resources, namespace, images."""
    k = _kustomization(folder)
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in k.get("images", [])}
    out = []
    for res in k["resources"]:
        for obj in _load(folder / res):
            if obj["kind"] in NAMESPACED:
                obj["metadata"]["namespace"] = k["namespace"]
            for c in _containers(obj):
                c["image"] = images.get(c["image"], c["image"])
            out.append(obj)
    return out


def _render(folder: Path) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return _render_here(folder)
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


def _containers(obj: Obj) -> Iterator[Obj]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("containers", [])


def _one(objs: list[Obj], kind: str) -> Obj:
    (found,) = [o for o in objs if o["kind"] == kind]
    return found


def _env(container: Obj) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(scope="module")
def main() -> list[Obj]:
    return _render(ROOT)


@pytest.fixture(scope="module")
def init() -> list[Obj]:
    return _render(ROOT / "init")


class TestFiles:
    def test_every_manifest_parses_and_is_used(self) -> None:
        """Every YAML file parses; each is a kustomization, listed in one, or the Secret example."""
        listed = {(folder / r).resolve() for folder in (ROOT, ROOT / "init") for r in _kustomization(folder)["resources"]}
        for path in sorted(ROOT.rglob("*.yaml")):
            for doc in _load(path):
                assert {"apiVersion", "kind"} <= doc.keys(), path
            assert path.name in {"kustomization.yaml", "secret.example.yaml"} or path.resolve() in listed, path
        assert all(p.exists() for p in listed)

    def test_no_real_secret_is_shipped(self, main: list[Obj], init: list[Obj]) -> None:
        """No Secret is applied by the kustomizations; the example holds only a placeholder."""
        assert [o for o in main + init if o["kind"] == "Secret"] == []
        (example,) = _load(ROOT / "secret.example.yaml")
        assert (example["kind"], example["metadata"]["name"]) == ("Secret", "licensor-database")
        assert "CHANGE-ME" in example["stringData"]["database-url"]
        assert example["stringData"]["database-url"].startswith("postgresql://")

    def test_both_kustomizations_use_one_image(self) -> None:
        """The init Job runs the same image as the replicas."""
        assert _kustomization(ROOT)["images"] == _kustomization(ROOT / "init")["images"]
        assert _kustomization(ROOT)["namespace"] == _kustomization(ROOT / "init")["namespace"] == "licensor"


class TestController:
    def test_the_kinds(self, main: list[Obj]) -> None:
        """The main kustomization holds exactly what runs the replicas."""
        kinds = sorted(o["kind"] for o in main)
        assert kinds == sorted(
            ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "PodDisruptionBudget"]
        )
        assert all(o["metadata"].get("namespace") == "licensor" for o in main if o["kind"] in NAMESPACED)

    def test_three_replicas_serve_on_postgresql_from_the_secret(self, main: list[Obj]) -> None:
        """Three replicas of 'licensor controller serve', the database URL from the Secret, no cluster id typed in."""
        dep = _one(main, "Deployment")
        assert dep["spec"]["replicas"] == 3
        assert dep["spec"]["selector"]["matchLabels"] == POD_LABELS == dep["spec"]["template"]["metadata"]["labels"]
        (c,) = _containers(dep)
        assert c["command"][:3] == ["licensor", "controller", "serve"]
        args = build_parser().parse_args(c["command"][1:])
        assert (args.func.__name__, args.host, args.port) == ("cmd_controller_serve", "0.0.0.0", 8800)
        assert c["ports"] == [{"name": "http", "containerPort": 8800}]
        env = _env(c)
        assert env["LICENSOR_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "licensor-database", "key": "database-url"}}
        assert "LICENSOR_CLUSTER_ID" not in env
        assert c["image"] == "licensor:placeholder"

    def test_probes_on_healthz(self, main: list[Obj]) -> None:
        """Readiness and liveness ask /healthz on the served port."""
        (c,) = _containers(_one(main, "Deployment"))
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe

    def test_resource_requests(self, main: list[Obj]) -> None:
        """Requests for CPU and memory, and a memory limit."""
        (c,) = _containers(_one(main, "Deployment"))
        assert {"cpu", "memory"} <= c["resources"]["requests"].keys()
        assert "memory" in c["resources"]["limits"]

    def test_the_service_account_may_only_get_kube_system(self, main: list[Obj]) -> None:
        """The pods run as the account bound to one rule: get namespaces, resourceNames [kube-system]."""
        sa = _one(main, "ServiceAccount")
        spec = _one(main, "Deployment")["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == sa["metadata"]["name"] and spec["automountServiceAccountToken"] is True
        role, binding = _one(main, "ClusterRole"), _one(main, "ClusterRoleBinding")
        assert role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"], "verbs": ["get"]}]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "licensor"}]

    def test_the_refusal_names_this_rbac(self, main: list[Obj]) -> None:
        """The cluster_id_forbidden hint grants the same rule under the same name as rbac.yaml."""
        name = _one(main, "ClusterRole")["metadata"]["name"]
        hint = kube._grant("system:serviceaccount:licensor:licensor-controller")
        assert f"kubectl create clusterrole {name} --verb=get --resource=namespaces --resource-name=kube-system" in hint
        assert f"--clusterrole={name} --serviceaccount=licensor:licensor-controller" in hint

    def test_service_and_pdb_select_the_pods(self, main: list[Obj]) -> None:
        """The Service reaches the served port; the PDB keeps two of three up."""
        svc, pdb = _one(main, "Service"), _one(main, "PodDisruptionBudget")
        assert svc["spec"]["selector"] == POD_LABELS
        assert svc["spec"]["ports"] == [{"name": "http", "port": 8800, "targetPort": "http"}]
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"] == {"minAvailable": 2, "selector": {"matchLabels": POD_LABELS}}


class TestInit:
    def test_init_job_trusts_the_vendor_key_once(self, init: list[Obj], main: list[Obj]) -> None:
        """The Job runs 'licensor controller init --trust' on the mounted vendor key, as the same account, on the same database."""
        job = _one(init, "Job")
        assert [o["kind"] for o in init] == ["Job"]
        spec = job["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == _one(main, "ServiceAccount")["metadata"]["name"]
        assert spec["restartPolicy"] == "Never"
        (c,) = _containers(job)
        args = build_parser().parse_args(c["command"][1:])
        assert args.func.__name__ == "cmd_controller_init"
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        (vendor,) = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "licensor-vendor-key"]
        assert args.trust == f"{mounts[vendor]}/vendor.pub"
        assert _env(c)["LICENSOR_DATABASE_URL"] == _env(next(_containers(_one(main, "Deployment"))))["LICENSOR_DATABASE_URL"]


class TestKubectl:
    def test_kubectl_renders_what_the_test_renders(self) -> None:
        """Where kubectl is on PATH, its render and the one here agree on every object."""
        if shutil.which("kubectl") is None:
            pytest.skip("kubectl is not on PATH: the manifests were checked on this test's own render only")
        for folder in (ROOT, ROOT / "init"):
            ours = {(o["kind"], o["metadata"]["name"]) for o in _render_here(folder)}
            theirs = _render(folder)
            assert {(o["kind"], o["metadata"]["name"]) for o in theirs} == ours
            images = {c["image"] for o in theirs for c in _containers(o)}
            assert images == {"licensor:placeholder"}
