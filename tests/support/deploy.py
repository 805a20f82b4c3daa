"""Shared by the tests/test_deploy_*.py files: where deploy/ and its checkers are, the
cluster version, rendering an overlay with `kubectl kustomize` (once per directory and
run), picking documents, pods and containers, and schema validation.

The checkers live in deploy/.venv-tools (scripts/install-deploy-tools.sh); kubectl is
part of the machine image. A missing tool is a failure, not a skip."""

import functools
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
TOOLS = ROOT / "deploy" / ".venv-tools" / "bin"
# The cluster version the manifests are written for; kubernetes-validate 1.37.0
# (pinned in scripts/install-deploy-tools.sh) bundles its schemas.
KUBERNETES_VERSION = "1.32.0"
OVERLAYS = ["overlays/dev", "overlays/production"]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{name} is missing from {TOOLS}: run scripts/install-deploy-tools.sh", pytrace=False)
    return str(path)


def kubectl() -> str:
    found = shutil.which("kubectl")
    if not found:
        pytest.fail(
            "kubectl is missing: the manifests are rendered by its built-in Kustomize (`kubectl kustomize`). "
            "It is part of the machine image (/usr/bin/kubectl, kubectl 1.32 with Kustomize 5.5); "
            "elsewhere install kubectl 1.27 or newer.", pytrace=False)
    return found


@functools.lru_cache(maxsize=None)
def _kustomize(directory: str) -> str:
    result = subprocess.run([kubectl(), "kustomize", directory], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}", pytrace=False)
    return result.stdout


def render(overlay: str) -> List[dict]:
    """The overlay's documents, as `kubectl apply -k` would send them (fresh copies)."""
    return [d for d in yaml.safe_load_all(_kustomize(str(KUBERNETES / overlay))) if d]


def by_kind(documents, kind, name=None):
    found = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''}"
    return found if name is None else found[0]


def pod_spec(workload: dict) -> dict:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def container(documents, name: str) -> dict:
    return pod_spec(by_kind(documents, "Deployment", name))["containers"][0]


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path)],
                          capture_output=True, text=True, timeout=300)
