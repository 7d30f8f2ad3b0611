"""Validates Kubernetes manifests strictly, every document of every file named.

The API's own kinds are checked by kubernetes-validate against its strict schemas for
the Kubernetes version given. The kinds of extensions the manifests use (cert-manager's)
are checked against the strict schemas in kubernetes-schemas/ beside this file, whose
metadata is the API's own ObjectMeta from the same strict set. A kind neither knows
fails: kubernetes-validate alone only warns about it and passes.

Usage: validate_kubernetes.py KUBERNETES_VERSION FILE...
"""

import json
import pathlib
import re
import sys

import jsonschema
import kubernetes_validate.utils as kubernetes
import yaml
from referencing import Registry, Resource

EXTENSION_SCHEMAS = pathlib.Path(__file__).with_name("kubernetes-schemas")


def schema_name(resource):
    """kubernetes-validate's name for a kind's schema: the kind, the API group's first
    label and the version (cert-manager.io/v1 Certificate: certificate-cert-manager-v1)."""
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", resource["apiVersion"])
    return f"{resource['kind'].lower()}-{api}.json"


def api_definitions(version):
    """kubernetes-validate's strict definitions for `version`, chosen as it chooses them:
    the newest set not newer than the version asked for."""
    wanted = kubernetes.major_minor(version)
    chosen = [v for v in kubernetes.all_versions() if kubernetes.major_minor(v) <= wanted]
    if not chosen:
        raise SystemExit(f"kubernetes-validate has no schemas for Kubernetes {version}")
    path = f"kubernetes-json-schema/v{chosen[-1]}-local-strict/_definitions.json"
    return Resource.from_contents(kubernetes.schema_contents(path, version))


def errors_in(resource, version, definitions):
    """The reasons `resource` is invalid (none when it is valid), and what checked it."""
    extension = EXTENSION_SCHEMAS / schema_name(resource)
    if extension.exists():
        schema = json.loads(extension.read_text())
        registry = Registry().with_resource(definitions.id(), definitions)
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        found = sorted(validator.iter_errors(resource), key=lambda e: list(e.path))
        problems = [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in found]
        return problems, extension.name
    try:
        kubernetes.validate(resource, version, strict=True)
    except kubernetes.ValidationError as e:
        return [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}"], "kubernetes-validate"
    except kubernetes.SchemaNotFoundError as e:
        return [f"no schema: {e.message}"], "nothing"
    return [], "kubernetes-validate"


def main(version, files):
    definitions = api_definitions(version)
    failed = 0
    for name in files:
        try:
            with open(name) as f:
                resources = [r for r in yaml.safe_load_all(f) if r]
        except (OSError, yaml.YAMLError) as e:
            failed += 1
            print(f"ERROR {name}: {e}")
            continue
        for resource in resources:
            if not isinstance(resource, dict) or not {"apiVersion", "kind"} <= resource.keys():
                failed += 1
                print(f"ERROR {name}: a document without apiVersion and kind")
                continue
            metadata = resource.get("metadata")
            named = metadata.get("name") if isinstance(metadata, dict) else None
            what = f"{name}: {resource['kind']}/{named}"
            problems, checker = errors_in(resource, version, definitions)
            if problems:
                failed += 1
                for problem in problems:
                    print(f"ERROR {what} ({checker}): {problem}")
            else:
                print(f"ok {what} ({checker}, strict)")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
