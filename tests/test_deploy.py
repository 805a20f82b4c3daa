"""deploy/: the Kubernetes manifests as the real Kustomize renders them (`kubectl
kustomize`), validated against the Kubernetes 1.32 schemas bundled in
kubernetes-validate (strict, offline), with what a multi-replica deployment needs and
what issue 23 asks of them: trusted proxies and an allow-listed staff console
(finding 2), Redis AUTH, NetworkPolicies and one Secret per set of pods (finding 5),
hardened pods (finding 10). Every Dockerfile passes hadolint.

The checkers live in deploy/.venv-tools (scripts/install-deploy-tools.sh); kubectl is
part of the machine image. A missing tool is a failure, not a skip: these tests are
the only check the manifests get before a cluster sees them.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest
import yaml


ROOT = Path(__file__).resolve().parents[1]
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


# -- finding 5: Redis AUTH, NetworkPolicies, one Secret per set of pods -------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_is_reached_with_a_password_from_a_secret(overlay):
    documents = render(overlay)
    config = by_kind(documents, "ConfigMap", "imago-config")["data"]
    assert not any(v.startswith(("redis://", "rediss://")) for v in config.values()), \
        "a Redis URL in the ConfigMap carries no password"
    env = {e["name"]: e for e in container(documents, "imago-rasa")["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "imago-redis", "key": "REDIS_PASSWORD"}
    names = [e["name"] for e in container(documents, "imago-rasa")["env"]]
    # Kubernetes expands $(VAR) only from variables defined before it.
    assert names.index("REDIS_PASSWORD") < names.index("SOCKETIO_REDIS_URL")
    assert re.fullmatch(r"rediss?://:\$\(REDIS_PASSWORD\)@\$\(REDIS_HOST\):\$\(REDIS_PORT\)/\d+",
                        env["SOCKETIO_REDIS_URL"]["value"])
    endpoints = yaml.safe_load((ROOT / "deploy" / "endpoints.production.yml").read_text())
    assert endpoints["lock_store"]["password"] == "${REDIS_PASSWORD}"
    if overlay.endswith("dev"):
        redis = container(documents, "imago-redis")
        assert redis["args"][redis["args"].index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
        redis_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in redis["env"]}
        assert redis_env["REDIS_PASSWORD"] == {"name": "imago-redis", "key": "REDIS_PASSWORD"}


def kubernetes_expand(value: str, env: Dict[str, str]) -> str:
    """$(VAR) as the kubelet expands it in env values and args (unknown ones stay)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), value)


@pytest.fixture
def redis_with_the_dev_overlays_args(tmp_path):
    """redis-server started with the dev overlay's own arguments (--requirepass ...)."""
    from tests.support import components
    from tests.support.net import free_port, wait_until

    binary = shutil.which("redis-server")
    components.require("redis", bool(binary), "redis-server is not installed")
    import redis

    password = by_kind(render("overlays/dev"), "Secret", "imago-redis")["stringData"]["REDIS_PASSWORD"]
    args = [kubernetes_expand(a, {"REDIS_PASSWORD": password}) for a in container(render("overlays/dev"), "imago-redis")["args"]]
    port = free_port()
    process = subprocess.Popen([binary, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: redis.Redis(host="127.0.0.1", port=port, password=password).ping(), timeout=30, what="Redis")
        yield port, password
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_the_servers_reach_a_redis_that_requires_auth(redis_with_the_dev_overlays_args, monkeypatch):
    """Against a real Redis started as the dev overlay starts it: a client without the
    password is refused; the lock store (endpoints.production.yml, read as Rasa reads
    it) and socket.io's manager (SOCKETIO_REDIS_URL as the Rasa Deployment builds it)
    get in with it."""
    import redis
    from rasa.core.lock_store import LockError, LockStore
    from rasa.core.utils import read_endpoints_from_path
    from socketio import AsyncRedisManager

    from extensions.channels.socketio_redis import configured_redis_url

    port, password = redis_with_the_dev_overlays_args
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()  # what any other pod would get

    environment = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_PASSWORD": password}
    endpoints_file = ROOT / "deploy" / "endpoints.production.yml"
    for variable in set(re.findall(r"\$\{([A-Z0-9_]+)\}", endpoints_file.read_text())):
        monkeypatch.setenv(variable, environment.get(variable, "unused-here"))
    lock_store = LockStore.create(read_endpoints_from_path(endpoints_file).lock_store)
    assert lock_store.issue_ticket("web:auth-check") >= 0
    assert redis.Redis(host="127.0.0.1", port=port, password=password, db=1).keys("imago*")

    url_template = {e["name"]: e.get("value") for e in container(render("overlays/production"), "imago-rasa")["env"]}
    monkeypatch.setenv("SOCKETIO_REDIS_URL", kubernetes_expand(url_template["SOCKETIO_REDIS_URL"], environment))
    manager = AsyncRedisManager(configured_redis_url(None), channel="imago-auth-check")
    manager._redis_connect()  # python-socketio's own connection, from the URL
    try:
        assert await manager.redis.ping()
        await manager.redis.publish("imago-auth-check", "{}")
    finally:
        await manager.redis.close()

    monkeypatch.setenv("REDIS_PASSWORD", "not-the-password")
    with pytest.raises(LockError, match="password"):  # Rasa's wrapping of Redis's refusal
        LockStore.create(read_endpoints_from_path(endpoints_file).lock_store).issue_ticket("web:auth-check-2")


# A small model of the cluster, for asking the NetworkPolicies who reaches whom.
NAMESPACE_OF = {"dev": "imago-dev", "production": "imago"}
PORTS = [("TCP", p) for p in (5005, 5055, 8080, 5432, 6379, 443, 25, 465, 587, 22, 80)] + [("UDP", 53), ("TCP", 53)]
INTERNET_PORTS = {"imago-rasa": {443}, "imago-actions": {443, 25, 465, 587}}


def _endpoints(documents, namespace: str, production: bool) -> Dict[str, dict]:
    """Pods of the app (from its workloads) and what else a cluster holds."""
    pods = {}
    for index, workload in enumerate(d for d in documents if d["kind"] in WORKLOADS):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        pods[labels["app.kubernetes.io/name"]] = {"namespace": namespace, "labels": labels, "ip": f"10.244.0.{index + 10}"}
    pods.update({
        "ingress-nginx": {"namespace": "ingress-nginx", "labels": {"app.kubernetes.io/name": "ingress-nginx"},
                          "ip": "10.244.1.5"},
        "kube-dns": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ip": "10.244.1.6"},
        # A compromised or curious pod beside the app, and one in another namespace.
        "intruder-here": {"namespace": namespace, "labels": {"app": "intruder"}, "ip": "10.244.2.7"},
        "intruder-elsewhere": {"namespace": "other", "labels": {"app": "intruder"}, "ip": "10.244.2.8"},
        "internet": {"ip": "203.0.113.10"},
        "cloud-metadata": {"ip": "169.254.169.254"},
    })
    if production:  # the managed services, at the addresses overlays/production names
        pods["managed-postgres"] = {"ip": _managed_address("managed-services.yaml")}
        pods["managed-redis"] = {"ip": _managed_address("managed-redis.yaml")}
    return pods


def _managed_address(patch: str) -> str:
    """An address inside the block a production patch lets the app reach."""
    operations = yaml.safe_load((KUBERNETES / "overlays" / "production" / patch).read_text())
    return str(ipaddress.ip_network(operations[0]["value"]["to"][0]["ipBlock"]["cidr"])[0])


def _selects(selector: Optional[dict], labels: dict) -> bool:
    if selector is None:
        return True
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value, operator = labels.get(expression["key"]), expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression["values"]:
            return False
        if operator == "Exists" and value is None:
            return False
        if operator == "DoesNotExist" and value is not None:
            return False
    return True


def _peer_matches(peer: dict, policy_namespace: str, other: dict) -> bool:
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other["ip"])
        block = peer["ipBlock"]
        if address.version != ipaddress.ip_network(block["cidr"]).version:
            return False
        return address in ipaddress.ip_network(block["cidr"]) and \
            not any(address in ipaddress.ip_network(e) for e in block.get("except", []))
    if "namespace" not in other:
        return False  # outside the cluster: only an ipBlock can name it
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other["namespace"]}):
            return False
    elif other["namespace"] != policy_namespace:
        return False
    return _selects(peer.get("podSelector"), other["labels"])


def _port_matches(ports: Optional[list], protocol: str, port: int) -> bool:
    return not ports or any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def _allowed_by(policies, direction: str, subject: dict, other: dict, protocol: str, port: int) -> bool:
    """Whether `subject`'s own policies let traffic to (egress) or from (ingress) `other`."""
    if "namespace" not in subject:
        return True  # outside the cluster: not ours to restrict
    selecting = [p for p in policies if p["metadata"]["namespace"] == subject["namespace"]
                 and _selects(p["spec"]["podSelector"], subject["labels"])
                 and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True  # a pod no policy selects (in this direction) is open
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(peer, policy["metadata"]["namespace"], other) for peer in peers)) \
                    and _port_matches(rule.get("ports"), protocol, port):
                return True
    return False


def flows(overlay: str, without_policies: bool = False) -> Set[Tuple[str, str, str]]:
    """Every (from, to, port) the NetworkPolicies allow, where one end is the app's namespace."""
    documents = render(overlay)
    name = overlay.split("/")[-1]
    namespace = NAMESPACE_OF[name]
    policies = [] if without_policies else by_kind(documents, "NetworkPolicy")
    endpoints = _endpoints(documents, namespace, production=name == "production")
    allowed = set()
    for source_name, source in endpoints.items():
        for target_name, target in endpoints.items():
            if source_name == target_name or namespace not in (source.get("namespace"), target.get("namespace")):
                continue
            for protocol, port in PORTS:
                if _allowed_by(policies, "Egress", source, target, protocol, port) and \
                        _allowed_by(policies, "Ingress", target, source, protocol, port):
                    allowed.add((source_name, target_name, f"{port}/{protocol}"))
    return allowed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_only_the_named_flows(overlay):
    """Default deny; the way in is the ingress controller to Rasa and the web server;
    only Rasa reaches Redis and the action server; only the app reaches PostgreSQL."""
    production = overlay.endswith("production")
    postgres, redis = ("managed-postgres", "managed-redis") if production else ("imago-postgres", "imago-redis")
    expected = {
        ("ingress-nginx", "imago-rasa", "5005/TCP"),
        ("ingress-nginx", "imago-web", "8080/TCP"),
        ("imago-rasa", "imago-actions", "5055/TCP"),
        ("imago-rasa", redis, "6379/TCP"),
        ("imago-rasa", postgres, "5432/TCP"),
        ("imago-actions", postgres, "5432/TCP"),
    }
    for app in ("imago-rasa", "imago-actions"):
        expected |= {(app, "kube-dns", "53/UDP"), (app, "kube-dns", "53/TCP")}
        outside = ["internet"] + (["managed-postgres", "managed-redis"] if production else [])
        expected |= {(app, host, f"{port}/TCP") for host in outside for port in INTERNET_PORTS[app]}
    actual = flows(overlay)
    assert actual - expected == set(), "allowed but not needed"
    assert expected - actual == set(), "needed but not allowed"


def test_the_flow_model_sees_an_open_namespace():
    """The model can fail: without NetworkPolicies (as before issue 23) a pod of
    another namespace reaches Redis and the action server."""
    open_flows = flows("overlays/dev", without_policies=True)
    assert {("intruder-elsewhere", "imago-redis", "6379/TCP"),
            ("intruder-here", "imago-actions", "5055/TCP"),
            ("imago-web", "imago-postgres", "5432/TCP")} <= open_flows


# Credentials only the action server may hold: it files tickets and sends mail.
BACKEND_SECRET = re.compile(r"^(RT_|ZENDESK_|SMTP_)")


def documented_secrets() -> Dict[str, Set[str]]:
    """deploy/README.md's env files, `# <secret>.env` and a KEY= per line below it."""
    secrets: Dict[str, Set[str]] = {}
    current = None
    for line in (ROOT / "deploy" / "README.md").read_text().splitlines():
        heading = re.match(r"\s*# (imago-[a-z]+)\.env\b", line)
        key = re.match(r"\s*([A-Z][A-Z0-9_]*)=", line)
        if heading:
            current = secrets.setdefault(heading.group(1), set())
        elif key and current is not None:
            current.add(key.group(1))
        elif not line.strip().startswith("#"):
            current = None
    return secrets


def secret_keys_of(documents, workload: str, documented: Dict[str, Set[str]]) -> Set[str]:
    """Every secret key a workload's containers can read: envFrom takes a whole Secret
    (its keys: the rendered Secret's in dev, the README's for one the operator makes)."""
    rendered = {s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
                for s in documents if s["kind"] == "Secret"}
    spec = pod_spec(by_kind(documents, "Deployment", workload))
    keys: Set[str] = set()
    whole = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        whole |= {e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e}
        keys |= {e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env", [])
                 if "secretKeyRef" in e.get("valueFrom", {})}
    for name in whole:
        assert name in rendered or name in documented, f"{workload} reads Secret {name}, documented nowhere"
        keys |= rendered.get(name, set()) | documented.get(name, set())
    return keys


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_internet_facing_pod_holds_no_ticket_or_mail_credentials(overlay):
    documents, documented = render(overlay), documented_secrets()
    assert documented, "deploy/README.md documents no Secret (`# imago-<name>.env` blocks)"
    rasa = secret_keys_of(documents, "imago-rasa", documented)
    actions = secret_keys_of(documents, "imago-actions", documented)
    assert not {k for k in rasa if BACKEND_SECRET.match(k)}, sorted(rasa)
    assert {"RT_TOKEN", "SMTP_PASSWORD", "ZENDESK_CLIENT_SECRET"} <= actions
    assert {"OTP_SECRET", "ACTION_SERVER_TOKEN", "STAFF_TOKENS", "REDIS_PASSWORD"} <= rasa
    assert "REDIS_PASSWORD" not in actions and "STAFF_TOKENS" not in actions
    # The web server serves files: no secret at all.
    assert secret_keys_of(documents, "imago-web", documented) == set()


def test_production_commits_no_secret_and_dev_secrets_are_documented():
    assert not [d for d in render("overlays/production") if d["kind"] == "Secret"]
    documented = documented_secrets()
    for secret in by_kind(render("overlays/dev"), "Secret"):
        name = secret["metadata"]["name"]
        if name == "imago-postgres":
            continue  # the dev overlay's own database
        missing = set(secret["stringData"]) - documented.get(name, set())
        assert not missing, f"{name}: {sorted(missing)} not in deploy/README.md"


def test_dev_secret_passes_the_servers_own_checks():
    """The dev Secret's values are long enough for the servers' start-up checks."""
    from imago_core.identity.staff_auth import MIN_TOKEN_LENGTH as MIN_STAFF
    from actions.server import MIN_TOKEN_LENGTH as MIN_ACTION

    documents = render("overlays/dev")
    common = by_kind(documents, "Secret", "imago-common")["stringData"]
    rasa = by_kind(documents, "Secret", "imago-rasa")["stringData"]
    for entry in rasa["STAFF_TOKENS"].split(","):  # name:token, as the Rasa server reads it
        name, _, token = entry.partition(":")
        assert name and len(token) >= MIN_STAFF, entry
    assert len(common["ACTION_SERVER_TOKEN"]) >= MIN_ACTION
    password = by_kind(documents, "Secret", "imago-redis")["stringData"]["REDIS_PASSWORD"]
    assert re.fullmatch(r"[A-Za-z0-9]{32,}", password), "the Redis password goes into a URL unescaped"


# -- finding 10: hardened pods -------------------------------------------------------------

def _workloads(overlay: str):
    return [d for d in render(overlay) if d["kind"] in WORKLOADS]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_runs_locked_down(overlay):
    workloads = _workloads(overlay)
    assert {w["metadata"]["name"] for w in workloads} >= {"imago-rasa", "imago-actions", "imago-web"}
    for workload in workloads:
        spec = pod_spec(workload)
        pod = spec.get("securityContext", {})
        where = workload["metadata"]["name"]
        assert spec.get("automountServiceAccountToken") is False, f"{where}: service account token mounted"
        assert spec.get("hostNetwork") is not True and spec.get("hostPID") is not True, where
        for c in spec["containers"] + spec.get("initContainers", []):
            own = c.get("securityContext", {})
            at = f"{where}/{c['name']}"

            def effective(field):
                return own.get(field, pod.get(field))

            assert own.get("readOnlyRootFilesystem") is True, f"{at}: writable root filesystem"
            assert own.get("allowPrivilegeEscalation") is False, f"{at}: privilege escalation allowed"
            assert own.get("privileged") is not True, at
            assert own.get("capabilities", {}).get("drop") == ["ALL"], f"{at}: capabilities not dropped"
            assert not own.get("capabilities", {}).get("add"), f"{at}: capabilities added"
            assert (effective("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{at}: no seccomp profile"
            assert effective("runAsNonRoot") is True and effective("runAsUser") not in (None, 0), f"{at}: root"
            limits = c.get("resources", {}).get("limits", {})
            assert limits.get("cpu") and limits.get("memory"), f"{at}: no CPU or memory limit"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_servers_have_somewhere_to_write(overlay):
    """Read-only root filesystems: Rasa unpacks its model under /tmp, both servers keep
    the project's files (outbox, Zendesk token file) in IMAGO_VAR_DIR. Each must be a
    mounted volume, or the pod fails at its first write."""
    documents = render(overlay)
    for name in ("imago-rasa", "imago-actions"):
        spec = pod_spec(by_kind(documents, "Deployment", name))
        c = spec["containers"][0]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in c["env"]}
        for path in ("/tmp", env["IMAGO_VAR_DIR"], env["HOME"]):
            mount = mounts.get(path)
            assert mount and not mount.get("readOnly") and "emptyDir" in volumes[mount["name"]], (name, path)


# -- images ------------------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile", sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfiles_pass_hadolint(dockerfile):
    result = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_a_dockerfile_per_image():
    names = {p.name for p in (ROOT / "deploy" / "docker").glob("*.Dockerfile")}
    assert names == {"rasa.Dockerfile", "actions.Dockerfile", "web.Dockerfile"}
