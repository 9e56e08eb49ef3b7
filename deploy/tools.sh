#!/usr/bin/env bash
# The deployment tools the suite runs (tests/deploy/): helm, kubeconform and promtool,
# built from source with the Go toolchain through the Go module proxy (pinned versions,
# -trimpath, only the commands needed), installed into .cache/bin. From a cold Go cache
# the three took 9.6 minutes on the project's 2-core machine while other work ran on it
# (kubeconform 9 s, helm 250 s, promtool 317 s); after that a run checks its stamps and
# returns at once. kubeconform's Kubernetes JSON schemas come from PyPI
# (kubernetes-validate ships them; tools/k8s_schemas.py makes them standalone) into
# .cache/k8s-schemas; the Strimzi and CloudNativePG CRD checks (deploy/helm/validate)
# are installed from npm into .cache/crd-validate.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
BIN=$CACHE/bin
mkdir -p "$BIN"

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.7.0
PROMETHEUS_VERSION=v0.316.0   # promtool of Prometheus 3.x

# Go's own module and build caches (shared by every checkout on the machine, so a fresh
# clone, as CI makes, links the tools in seconds); TOOLS_GO*CACHE to measure a cold build.
[[ -n ${TOOLS_GOMODCACHE:-} ]] && export GOMODCACHE=$TOOLS_GOMODCACHE
[[ -n ${TOOLS_GOCACHE:-} ]] && export GOCACHE=$TOOLS_GOCACHE
export GOBIN=$BIN
export GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0 GOTOOLCHAIN=local

install_go() { # name package version [ldflags] [tags]
    local name=$1 package=$2 version=$3 ldflags=${4:-} tags=${5:-} stamp=$BIN/.$1.version
    if [[ -x $BIN/$name && -f $stamp && $(cat "$stamp") == "$version $ldflags $tags" ]]; then
        return 0
    fi
    local start=$SECONDS
    go install -tags="$tags" -ldflags="-s -w $ldflags" "$package@$version"
    echo "$version $ldflags $tags" >"$stamp"
    echo "tools.sh: $name $version built in $((SECONDS - start)) s"
}

[[ -x /usr/local/go/bin/go ]] && PATH=$PATH:/usr/local/go/bin
if ! command -v go >/dev/null; then
    echo "tools.sh: the Go toolchain is missing (Debian: apt-get install golang-go)" >&2
    exit 1
fi
install_go kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
# As helm's Makefile does: its version, and the Kubernetes version of its client-go
# (v0.37 -> 1.37) as the default that `helm template` and `helm lint` check charts against.
HELM_K8S="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in chartutil lint/rules; do
    HELM_K8S+=" -X helm.sh/helm/v3/pkg/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$pkg.k8sVersionMinor=37"
done
install_go helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$HELM_K8S"
# remove_all_sd: without the service-discovery plugins (cloud SDKs, Kubernetes client),
# which `promtool check rules` and `promtool test rules` never use; Prometheus' own build
# tag, and most of the build time.
install_go promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION" "" remove_all_sd

# Kubernetes' own JSON schemas, from PyPI (kubernetes-validate ships them), made standalone
# for kubeconform by tools/k8s_schemas.py, for each Kubernetes version the suite checks.
K8S_VALIDATE_VERSION=1.37.0
K8S_VERSIONS="1.30.0 1.37.0"
WHEELS=$CACHE/wheels
wheel=$WHEELS/kubernetes_validate-$K8S_VALIDATE_VERSION-py3-none-any.whl
if [[ ! -f $wheel ]]; then
    "$ROOT/.venv/bin/python" -m pip download --quiet --no-deps -d "$WHEELS" \
        "kubernetes-validate==$K8S_VALIDATE_VERSION"
fi
for k8s in $K8S_VERSIONS; do
    out=$CACHE/k8s-schemas/v$k8s
    if [[ ! -f $out/.done || tools/k8s_schemas.py -nt $out/.done ]]; then
        rm -rf "$out"
        PYTHONPATH=$ROOT "$ROOT/.venv/bin/python" -m tools.k8s_schemas "$wheel" "$k8s" "$out" >/dev/null
        touch "$out/.done"
    fi
done

# The operators' CRD schemas (Strimzi, CloudNativePG) as kubernetes-models compiled them,
# from npm at the versions locked in deploy/helm/validate/package-lock.json.
CRD=$CACHE/crd-validate
if ! cmp -s deploy/helm/validate/package-lock.json "$CRD/package-lock.json"; then
    if ! command -v npm >/dev/null; then
        echo "tools.sh: npm is missing (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
    rm -rf "$CRD"
    mkdir -p "$CRD"
    cp deploy/helm/validate/package.json deploy/helm/validate/package-lock.json "$CRD/"
    (cd "$CRD" && npm ci --silent --no-audit --no-fund --ignore-scripts)
fi
cp deploy/helm/validate/validate.mjs "$CRD/"
