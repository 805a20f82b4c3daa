"""Renders this directory's kustomizations without kustomize (not available on the
build machines): the subset of Kustomize they use, and nothing else.

    python deploy/kubernetes/render.py deploy/kubernetes/overlays/dev > dev.yaml

Supported kustomization keys: `resources` (YAML files, or directories with a
kustomization.yaml), `namespace`, `labels` (`pairs`, metadata only), `patches`
(`path:` to a strategic-merge patch: maps merge, lists of named items merge by
`name`, other lists are replaced). Any other key is an error, so an overlay that
needs more of Kustomize fails here instead of rendering wrongly. `kubectl apply -k`
renders the same directories with the real Kustomize.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any, Dict, List

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "IngressClass", "PriorityClass"}


def _load_documents(path: Path) -> List[Dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and patch and \
            all(isinstance(item, dict) and "name" in item for item in base + patch):
        merged = [copy.deepcopy(item) for item in base]
        for item in patch:
            index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = merge(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def _key(doc: Dict[str, Any]) -> tuple:
    return doc["kind"], doc["metadata"]["name"]


def render(directory: Path) -> List[Dict[str, Any]]:
    directory = Path(directory)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: unsupported kustomization keys {sorted(unknown)}")
    documents: List[Dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        documents += render(path) if path.is_dir() else _load_documents(path)
    seen = [_key(doc) for doc in documents]
    if len(seen) != len(set(seen)):
        raise ValueError(f"{directory}: a resource is defined twice")
    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise ValueError(f"{directory}: only `patches: - path:` is supported")
        for patch in _load_documents(directory / entry["path"]):
            index = next((i for i, doc in enumerate(documents) if _key(doc) == _key(patch)), None)
            if index is None:
                raise ValueError(f"{directory}: patch for a missing resource {_key(patch)}")
            documents[index] = merge(documents[index], patch)
    for label_set in kustomization.get("labels", []):
        for doc in documents:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(label_set["pairs"])
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in documents:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = namespace
    return documents


def main(argv: List[str]) -> int:
    sys.stdout.write(yaml.safe_dump_all(render(Path(argv[1])), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
