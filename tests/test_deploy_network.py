"""deploy/: the Kubernetes manifests as the real Kustomize renders them (`kubectl
kustomize`), validated against the Kubernetes 1.32 schemas bundled in
kubernetes-validate (strict, offline), with what a multi-replica deployment needs and
what issue 23 asks of them. Helpers: tests/support/deploy.py. A missing tool is a
failure, not a skip: these tests are the only check the manifests get before a
cluster sees them.
This file: finding 5, the network side: Redis AUTH with a password from a Secret,
and NetworkPolicies that allow only the named flows (a small model of the cluster).
"""

import ipaddress
import re
import shutil
import subprocess
from typing import Dict, Optional, Set, Tuple

import pytest
import yaml
from tests.support.deploy import (
    KUBERNETES,
    OVERLAYS,
    ROOT,
    WORKLOADS,
    by_kind,
    container,
    render,
)


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
