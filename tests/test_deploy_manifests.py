"""deploy/: the Kubernetes manifests as the real Kustomize renders them (`kubectl
kustomize`), validated against the Kubernetes 1.32 schemas bundled in
kubernetes-validate (strict, offline), with what a multi-replica deployment needs and
what issue 23 asks of them. Helpers: tests/support/deploy.py. A missing tool is a
failure, not a skip: these tests are the only check the manifests get before a
cluster sees them.
This file: the schemas, what several replicas need, trusted proxies and an
allow-listed staff console (finding 2), and the images (every Dockerfile passes hadolint).
"""

import ipaddress
import re
import subprocess
from typing import List, Optional, Tuple

import pytest
import yaml
from tests.support.deploy import (
    OVERLAYS,
    ROOT,
    by_kind,
    container,
    render,
    tool,
    validate,
)


# -- schemas -------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_rendered_manifests_are_valid_kubernetes(overlay, tmp_path):
    documents = render(overlay)
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    result = validate(rendered)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # kubernetes-validate passes (exit 0, a WARN line) a kind it has no schema for:
    # every resource must be named as checked, against the version asked for.
    assert "WARN" not in output, output
    passed = set(re.findall(r"passed for resource (\S+) against version 1\.32\b", output))
    expected = {f"{d['kind'].lower()}/{d['metadata']['name']}" for d in documents}
    assert passed == expected, f"not validated: {sorted(expected - passed)}"
    assert any(name.startswith("networkpolicy/") for name in passed)


@pytest.mark.parametrize("kind, name, breakage", [
    ("Deployment", "imago-rasa", lambda d: d["spec"].update(replica=3)),
    ("NetworkPolicy", "imago-actions", lambda d: d["spec"]["ingress"][0].update(form=[])),
    ("NetworkPolicy", "imago-rasa", lambda d: d["spec"]["egress"][0]["ports"][0].update(protocol=6)),
])
def test_validation_rejects_a_broken_manifest(kind, name, breakage, tmp_path):
    """The check can fail, NetworkPolicies included: a misspelt field or a wrong type is refused."""
    document = by_kind(render("base"), kind, name)
    breakage(document)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document))
    result = validate(broken)
    assert result.returncode != 0 and "ERROR" in result.stdout, result.stdout + result.stderr


# -- what several replicas need --------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_has_what_several_replicas_need(overlay):
    documents = render(overlay)
    rasa = container(documents, "imago-rasa")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert rasa[probe]["httpGet"]["port"] == "http"
    assert {"configMapRef": {"name": "imago-config"}} in rasa["envFrom"]
    hpa = by_kind(documents, "HorizontalPodAutoscaler", "imago-rasa")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "imago-rasa" and hpa["spec"]["maxReplicas"] > 1
    assert {p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
            for p in by_kind(documents, "PodDisruptionBudget")} >= {"imago-rasa", "imago-actions", "imago-web"}
    ingress = by_kind(documents, "Ingress", "imago")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths["/socket.io"] == "imago-rasa" and paths["/"] == "imago-web"
    # socket.io pushes go through Redis (its URL carries the password: see finding 5 below).
    env = {e["name"]: e for e in rasa["env"]}
    assert env["SOCKETIO_REDIS_URL"]["value"].startswith("redis://")
    # PostgreSQL and Redis under the configured names: external in production, in-cluster in dev.
    services = {s["metadata"]["name"]: s["spec"] for s in by_kind(documents, "Service")}
    assert {"imago-postgres", "imago-redis"} <= set(services)
    external = overlay.endswith("production")
    assert all((services[n].get("type") == "ExternalName") == external for n in ("imago-postgres", "imago-redis"))
    namespaces = {d["metadata"].get("namespace") for d in documents if d["kind"] != "Namespace"}
    assert len(namespaces) == 1 and None not in namespaces


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_servers_get_the_shared_secrets_and_the_guarded_action_server(overlay):
    """The action server refuses every call without ACTION_SERVER_TOKEN, and the Rasa
    server signs widget sessions with OTP_SECRET: both servers must have both, or not start."""
    documents = render(overlay)
    for name in ("imago-rasa", "imago-actions"):
        required = {e["name"]: e["valueFrom"]["secretKeyRef"]
                    for e in container(documents, name).get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
        for key in ("ACTION_SERVER_TOKEN", "OTP_SECRET"):
            assert required.get(key) == {"name": "imago-common", "key": key}, (name, key)
    actions = container(documents, "imago-actions")
    assert actions["command"] == ["python", "-m", "actions.server"] and "0.0.0.0" in actions["args"]
    dockerfile = (ROOT / "deploy" / "docker" / "actions.Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m", "actions.server"]' in dockerfile
    for image in ("actions", "rasa", "web"):  # the core package is in every image that imports it
        assert "COPY imago_core/ imago_core/" in (ROOT / "deploy" / "docker" / f"{image}.Dockerfile").read_text()
        # and the texts per language, which both servers' replies read (issue 22)
        assert "COPY data/texts/ data/texts/" in (ROOT / "deploy" / "docker" / f"{image}.Dockerfile").read_text()


# -- finding 2: one ingress peer is not one visitor --------------------------------------

@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_trusted_proxies_cover_the_ingress_network(overlay):
    """Without TRUSTED_PROXIES every visitor behind ingress-nginx is the ingress pod,
    and a dozen code requests from anyone lock all of them out."""
    from extensions.channels.rest import resolve_client, trusted_networks  # as the channels use them

    config = by_kind(render(overlay), "ConfigMap", "imago-config")["data"]
    assert config.get("TRUSTED_PROXIES"), "TRUSTED_PROXIES is not set"
    trusted = trusted_networks(config["TRUSTED_PROXIES"])  # parsed as the servers parse it
    assert not any(n.prefixlen == 0 for n in trusted), "trusting every address believes any X-Forwarded-For"
    ingress_pod = str(next(trusted[0].hosts()))
    visitors = {resolve_client(ingress_pod, f"198.51.100.{i}", trusted) for i in range(1, 4)}
    assert visitors == {"198.51.100.1", "198.51.100.2", "198.51.100.3"}


def _serving_ingress(ingresses: List[dict], host: str, path: str) -> Tuple[dict, str]:
    """The Ingress ingress-nginx uses for a request: the longest matching Prefix path."""
    best: Optional[Tuple[int, dict, str]] = None
    for ingress in ingresses:
        for rule in ingress["spec"]["rules"]:
            if rule.get("host") not in (None, host):
                continue
            for entry in rule["http"]["paths"]:
                prefix = entry["path"].rstrip("/")
                assert entry["pathType"] == "Prefix", entry
                if path == prefix or path.startswith(prefix + "/") or prefix == "":
                    if best is None or len(prefix) > best[0]:
                        best = (len(prefix), ingress, entry["backend"]["service"]["name"])
    assert best, f"nothing serves {path}"
    return best[1], best[2]


ALLOW_LIST = "nginx.ingress.kubernetes.io/whitelist-source-range"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_staff_console_is_allow_listed_at_the_ingress(overlay):
    """Ten wrong staff tokens a minute from anyone keep every staff member at 429:
    the console's routes answer only the staff's networks, visitors' routes everyone."""
    ingresses = by_kind(render(overlay), "Ingress")
    host = ingresses[0]["spec"]["rules"][0]["host"]
    for path in ("/webhooks/staff", "/webhooks/staff/", "/webhooks/staff/api/escalations",
                 "/webhooks/staff/api/escalations/ESC-1/reply"):
        ingress, service = _serving_ingress(ingresses, host, path)
        assert service == "imago-rasa"
        ranges = ingress["metadata"].get("annotations", {}).get(ALLOW_LIST, "")
        assert ranges, f"{path} is served by Ingress {ingress['metadata']['name']} without {ALLOW_LIST}"
        networks = [ipaddress.ip_network(r.strip()) for r in ranges.split(",")]
        assert networks and not any(n.prefixlen == 0 for n in networks), ranges
    for path in ("/socket.io/", "/webhooks/rocketchat/webhook", "/", "/policy"):
        ingress, _ = _serving_ingress(ingresses, host, path)
        assert ALLOW_LIST not in ingress["metadata"].get("annotations", {}), f"visitors' {path} is allow-listed"


# -- images ------------------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile", sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    result = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_dockerfile_per_image():
    names = {p.name for p in (ROOT / "deploy" / "docker").glob("*.Dockerfile")}
    assert names == {"rasa.Dockerfile", "actions.Dockerfile", "web.Dockerfile"}
