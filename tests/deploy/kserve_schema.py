"""Checks KServe resources against the kserve SDK's own models and prints the problems found
as JSON, e.g. ``{"FILE": ["...ports[0].portz: not a field of V1ContainerPort"]}``.

The SDK's ApiClient deserialiser skips keys it does not know (and cannot resolve the
Kubernetes types nested in a ServingRuntime), so this walks each document through the
models' ``openapi_types``/``attribute_map`` itself: every unknown key and every value of
the wrong kind is a problem. Then it builds the SDK objects, whose constructors check
required fields. Run with the kserve environment's interpreter (see kserve_client.py).

    python kserve_schema.py FILE...
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import kserve.models as kserve_models
import kubernetes.client.models as k8s_models
import yaml

KINDS = {
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "V1alpha1ServingRuntime",
    ("serving.kserve.io/v1alpha1", "ClusterServingRuntime"): "V1alpha1ClusterServingRuntime",
    ("serving.kserve.io/v1beta1", "InferenceService"): "V1beta1InferenceService",
}
PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float)}


def model_class(name: str) -> type | None:
    return getattr(kserve_models, name, None) or getattr(k8s_models, name, None)


def check(value: Any, type_name: str, path: str) -> list[str]:
    """Every problem in ``value`` read as the SDK type ``type_name``."""
    if value is None or type_name in ("object", "datetime", "date"):
        return []
    # Both generator styles: kserve's own models say list[X] / dict(str, X), the
    # kubernetes client's List[X] / Dict[str, X].
    if match := re.fullmatch(r"[Ll]ist\[(.*)\]", type_name):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [problem for i, item in enumerate(value) for problem in check(item, match[1], f"{path}[{i}]")]
    if match := re.fullmatch(r"dict\(([^,]*), (.*)\)|Dict\[([^,]*), (.*)\]", type_name):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        item_type = match[2] or match[4]
        return [problem for key, item in value.items() for problem in check(item, item_type, f"{path}.{key}")]
    if type_name in PRIMITIVES:
        ok = isinstance(value, PRIMITIVES[type_name]) and not (type_name != "bool" and isinstance(value, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {type(value).__name__} {value!r}"]
    klass = model_class(type_name)
    if klass is None:
        return [f"{path}: unknown SDK type {type_name}"]
    if not getattr(klass, "openapi_types", None):
        return []  # an opaque type such as IntOrString
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping"]
    fields = {json_key: klass.openapi_types[attr] for attr, json_key in klass.attribute_map.items()}
    problems = [f"{path}.{key}: not a field of {type_name}" for key in value if key not in fields]
    for key, item in value.items():
        if key in fields:
            problems += check(item, fields[key], f"{path}.{key}")
    return problems


def build(value: Any, type_name: str) -> Any:
    """The SDK object for ``value`` (already ``check``ed), built through its constructors."""
    if value is None:
        return None
    if match := re.fullmatch(r"[Ll]ist\[(.*)\]", type_name):
        return [build(item, match[1]) for item in value]
    if match := re.fullmatch(r"dict\(([^,]*), (.*)\)|Dict\[([^,]*), (.*)\]", type_name):
        return {key: build(item, match[2] or match[4]) for key, item in value.items()}
    klass = model_class(type_name)
    if klass is None or not getattr(klass, "openapi_types", None):
        return value
    return klass(
        **{
            attr: build(value[key], klass.openapi_types[attr])
            for attr, key in klass.attribute_map.items()
            if key in value
        }
    )


def check_file(path: Path) -> list[str]:
    problems = []
    for number, document in enumerate(yaml.safe_load_all(path.read_text())):
        where = f"document {number}"
        type_name = KINDS.get((document.get("apiVersion"), document.get("kind")))
        if type_name is None:
            problems.append(f"{where}: {document.get('apiVersion')} {document.get('kind')} is not a KServe resource")
            continue
        found = check(document, type_name, where)
        if not found:
            try:
                build(document, type_name)
            except (TypeError, ValueError) as exc:
                found = [f"{where}: {exc}"]
        problems += found
    return problems


if __name__ == "__main__":
    print(json.dumps({name: check_file(Path(name)) for name in sys.argv[1:]}))
