#!/usr/bin/env bash
# Validates the Kubernetes manifests against the API's schemas with
# kubernetes-validate, strictly: an unknown field (a misspelt key, or one at the wrong
# depth) fails as a missing required one does. cert-manager's kinds, which the API's
# schemas lack, are checked as strictly against scripts/kubernetes-schemas/ (written
# from cert-manager's CRDs for the fields the manifests use), and a kind that neither
# knows fails (validate_kubernetes.py). It validates the files the
# kustomization lists, and fails on a manifest in the folder that it does not list,
# which `kubectl apply -k` would leave out in silence. The one-off Jobs under
# operations/ (run by hand, never applied with the stack) are validated too.
# Usage: scripts/validate-kubernetes.sh [kubernetes version, default 1.37.0]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-1.37.0}
manifests=$root/deploy/kubernetes
venv=${BOOKSHELF_TOOLS:-$HOME/.cache/bookshelf}/kubernetes-validate
if [[ ! -x $venv/bin/kubernetes-validate ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate>=1.37,<2'
fi
fail() { echo "kubernetes-validate: FAILED: $*" >&2; exit 1; }

# The kustomization's `resources:` entries, one `  - file.yaml` a line.
listed=$(sed -n '/^resources:/,/^[^ -]/s/^ *- *//p' "$manifests/kustomization.yaml")
[[ -n $listed ]] || fail "kustomization.yaml lists no resources"
for file in "$manifests"/*.yaml; do
  name=$(basename "$file")
  [[ $name == kustomization.yaml ]] && continue
  grep -qxF "$name" <<<"$listed" || fail "$name is not listed in kustomization.yaml"
done

files=()
while read -r name; do files+=("$manifests/$name"); done <<<"$listed"
files+=("$manifests"/operations/*.yaml)
"$venv/bin/python" "$root/scripts/validate_kubernetes.py" "$version" "${files[@]}" ||
  fail "see above"
echo "kubernetes-validate: passed"
