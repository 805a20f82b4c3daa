"""deploy/: every rendered Kubernetes manifest validates against the Kubernetes schemas
(kubernetes-validate, strict), the overlays have what a multi-replica deployment needs,
and every Dockerfile passes hadolint. The checkers live in deploy/.venv-tools
(scripts/install-deploy-tools.sh); a missing checker is a failure, not a skip."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.kubernetes.render import merge, render

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
TOOLS = ROOT / "deploy" / ".venv-tools" / "bin"
KUBERNETES_VERSION = "1.29.0"
OVERLAYS = ["overlays/dev", "overlays/production"]


def tool(name: str) -> str:
    path = TOOLS / name
    assert path.exists(), f"{name} missing: run scripts/install-deploy-tools.sh"
    return str(path)


def by_kind(documents, kind, name=None):
    found = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert found, f"no {kind} {name or ''}"
    return found if name is None else found[0]


@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_rendered_manifests_are_valid_kubernetes(overlay, tmp_path):
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(render(KUBERNETES / overlay), sort_keys=False))
    result = subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSION,
                             str(rendered)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validation_rejects_a_broken_manifest(tmp_path):
    """The check can fail: a Deployment with a misspelt field is refused."""
    broken = tmp_path / "broken.yaml"
    deployment = by_kind(render(KUBERNETES / "base"), "Deployment", "imago-rasa")
    deployment["spec"]["replica"] = 3
    broken.write_text(yaml.safe_dump(deployment))
    result = subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSION,
                             str(broken)], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_what_several_replicas_need(overlay):
    documents = render(KUBERNETES / overlay)
    rasa = by_kind(documents, "Deployment", "imago-rasa")
    container = rasa["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert {"configMapRef": {"name": "imago-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "imago-secrets"}} in container["envFrom"]
    hpa = by_kind(documents, "HorizontalPodAutoscaler", "imago-rasa")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "imago-rasa" and hpa["spec"]["maxReplicas"] > 1
    assert {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
            for p in by_kind(documents, "PodDisruptionBudget")} >= {"imago-rasa", "imago-actions", "imago-web"}
    ingress = by_kind(documents, "Ingress", "imago")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/socket.io"] == "imago-rasa" and paths["/"] == "imago-web"
    config = by_kind(documents, "ConfigMap", "imago-config")["data"]
    assert config["SOCKETIO_REDIS_URL"].startswith("redis://imago-redis")
    # PostgreSQL and Redis under the configured names: external in production, in-cluster in dev.
    services = {s["metadata"]["name"]: s["spec"] for s in by_kind(documents, "Service")}
    assert {"imago-postgres", "imago-redis"} <= set(services)
    external = overlay.endswith("production")
    assert all((services[n].get("type") == "ExternalName") == external for n in ("imago-postgres", "imago-redis"))
    namespaces = {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"}
    assert len(namespaces) == 1 and None not in namespaces


def test_production_commits_no_secret_and_dev_secret_has_every_key():
    assert not [d for d in render(KUBERNETES / "overlays/production") if d["kind"] == "Secret"]
    secret = by_kind(render(KUBERNETES / "overlays/dev"), "Secret", "imago-secrets")
    readme = (ROOT / "deploy" / "README.md").read_text()
    for key in ("OTP_SECRET", "STAFF_TOKEN", "ACTION_SERVER_TOKEN", "DATABASE_URL", "TRACKER_DB_USER",
                "TRACKER_DB_PASSWORD", "TRACKER_STORE_URL"):
        assert key in secret["stringData"] and key in readme


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_servers_get_the_shared_secrets_and_the_guarded_action_server(overlay):
    """The action server refuses every call without ACTION_SERVER_TOKEN, and the Rasa
    server signs widget sessions with OTP_SECRET: both servers must have both, or not start."""
    documents = render(KUBERNETES / overlay)
    for name in ("imago-rasa", "imago-actions"):
        container = by_kind(documents, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        required = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", []) if "valueFrom" in e}
        for key in ("ACTION_SERVER_TOKEN", "OTP_SECRET"):
            assert required.get(key) == {"name": "imago-secrets", "key": key}, (name, key)
    actions = by_kind(documents, "Deployment", "imago-actions")["spec"]["template"]["spec"]["containers"][0]
    assert actions["command"] == ["python", "-m", "actions.server"] and "0.0.0.0" in actions["args"]
    dockerfile = (ROOT / "deploy" / "docker" / "actions.Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "actions.server"]' in dockerfile
    for image in ("actions", "rasa", "web"):  # the core package is in every image that imports it
        assert "COPY imago_core/ imago_core/" in (ROOT / "deploy" / "docker" / f"{image}.Dockerfile").read_text()
        # and the texts per language, which both servers' replies read (issue 22)
        assert "COPY data/texts/ data/texts/" in (ROOT / "deploy" / "docker" / f"{image}.Dockerfile").read_text()


def test_dev_secret_passes_the_servers_own_checks():
    """The dev Secret's values are long enough for the servers' start-up checks."""
    from imago_core.identity.staff_auth import MIN_TOKEN_LENGTH as MIN_STAFF
    from actions.server import MIN_TOKEN_LENGTH as MIN_ACTION

    data = by_kind(render(KUBERNETES / "overlays/dev"), "Secret", "imago-secrets")["stringData"]
    assert len(data["STAFF_TOKEN"]) >= MIN_STAFF and len(data["ACTION_SERVER_TOKEN"]) >= MIN_ACTION


def test_renderer_merges_named_lists_and_refuses_unknown_keys(tmp_path):
    base = {"containers": [{"name": "a", "image": "x", "ports": [1]}, {"name": "b"}]}
    assert merge(base, {"containers": [{"name": "a", "image": "y"}]})["containers"] == \
        [{"name": "a", "image": "y", "ports": [1]}, {"name": "b"}]
    (tmp_path / "kustomization.yaml").write_text("resources: []\nimages: []\n")
    with pytest.raises(ValueError, match="unsupported"):
        render(tmp_path)


@pytest.mark.parametrize("dockerfile", sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    result = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_dockerfile_per_image():
    names = {p.name for p in (ROOT / "deploy" / "docker").glob("*.Dockerfile")}
    assert names == {"rasa.Dockerfile", "actions.Dockerfile", "web.Dockerfile"}
