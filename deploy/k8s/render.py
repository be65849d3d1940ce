"""Render a kustomization to one YAML stream, for machines without kubectl or kustomize.

    python deploy/k8s/render.py deploy/k8s/overlays/production > chatstream.yaml

Supports the subset of kustomize these manifests use: ``resources`` (files and
directories with their own kustomization), ``namespace``, ``images`` (``name``,
``newName``, ``newTag``) and ``patches`` given by ``path`` (strategic merge: a patch
names its target by kind and metadata.name; maps merge; for built-in kinds, lists of
named items such as containers merge by name; other lists, and every list of a custom
resource such as a KEDA ScaledObject, are replaced, as kustomize does). ``kubectl apply -k``
gives the same result.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ("render",)

# Kinds kustomize knows the schema of (their named lists merge); anything else is a
# custom resource, whose lists a strategic merge replaces.
_BUILTIN_GROUPS = ("v1", "apps/", "batch/", "policy/", "networking.k8s.io/", "autoscaling/")


def _load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _merge(base: Any, patch: Any, *, builtin: bool) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)  # `key: null` deletes, as in a strategic merge
            elif key in out:
                out[key] = _merge(out[key], value, builtin=builtin)
            else:
                out[key] = copy.deepcopy(value)
        return out
    named = (builtin and isinstance(base, list) and isinstance(patch, list)
             and all(isinstance(i, dict) and "name" in i for i in (*base, *patch)))
    if named:
        merged = [copy.deepcopy(i) for i in base]
        index = {i["name"]: n for n, i in enumerate(merged)}
        for item in patch:
            if item["name"] in index:
                n = index[item["name"]]
                merged[n] = _merge(merged[n], item, builtin=True)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _set_images(node: Any, images: list[dict[str, str]]) -> None:
    if isinstance(node, dict):
        for key in ("containers", "initContainers"):
            for c in node.get(key, []) or []:
                name, _, tag = c.get("image", "").partition(":")
                for rule in images:
                    if rule["name"] == name:
                        c["image"] = f"{rule.get('newName', name)}:{rule.get('newTag', tag)}"
        for value in node.values():
            _set_images(value, images)
    elif isinstance(node, list):
        for value in node:
            _set_images(value, images)


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources a kustomization directory produces, in order."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        docs += render(target) if target.is_dir() else _load(target)
    for patch_ref in spec.get("patches", []):
        for patch in _load(directory / patch_ref["path"]):
            hits = [i for i, d in enumerate(docs) if d["kind"] == patch["kind"]
                    and d["metadata"]["name"] == patch["metadata"]["name"]]
            if not hits:
                raise ValueError(f"{patch_ref['path']}: no {patch['kind']} "
                                 f"{patch['metadata']['name']} to patch")
            for i in hits:
                builtin = docs[i]["apiVersion"].startswith(_BUILTIN_GROUPS)
                docs[i] = _merge(docs[i], patch, builtin=builtin)
    if "images" in spec:
        _set_images(docs, spec["images"])
    if "namespace" in spec:
        for d in docs:
            d.setdefault("metadata", {})["namespace"] = spec["namespace"]
    return docs


if __name__ == "__main__":
    print(yaml.safe_dump_all(render(Path(sys.argv[1])), sort_keys=False), end="")
