#!/usr/bin/env bash
# Installs the third-party Kafka clients that shards/tests/clients.rs drives, when missing:
# kafkajs (npm, pinned in shards/tests/interop/js/package-lock.json) and the Go clients sarama
# and segmentio/kafka-go (Debian's packages, built in GOPATH mode: no Go module download).
# Builds the Go checks into shards/tests/interop/go/bin/. Idempotent; run by scripts/test.sh.
# Any step that fails stops the script with a message and a non-zero status: the tests never
# skip for want of a client.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "install-clients: $*" >&2
  exit 1
}

# apt-get install, first from the package lists at hand, then after refreshing them.
apt_install() {
  echo "installing $* (Debian)"
  apt-get install -y "$@" >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y "$@" >/dev/null; } ||
    die "apt-get install $* failed"
}

# Node.js and npm: the machine's own if present (a Node.js from another source may provide
# npm itself, and Debian's npm package would conflict with it).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
command -v node >/dev/null || die "node is still missing after installing nodejs"
command -v npm >/dev/null || die "npm is still missing after installing npm"

missing=()
for pkg in golang-go golang-github-shopify-sarama-dev golang-github-segmentio-kafka-go-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  apt_install "${missing[@]}"
fi
command -v go >/dev/null || die "go is still missing after installing golang-go"
[[ -d /usr/share/gocode/src/github.com/Shopify/sarama ]] || die "sarama's source is not in /usr/share/gocode"
[[ -d /usr/share/gocode/src/github.com/segmentio/kafka-go ]] || die "kafka-go's source is not in /usr/share/gocode"

js=shards/tests/interop/js
if [[ ! -f $js/node_modules/kafkajs/package.json ]]; then
  echo "installing kafkajs (npm ci in $js)"
  (cd "$js" && npm ci --no-audit --no-fund >/dev/null) || die "npm ci in $js failed"
fi
node -e "require('$PWD/$js/node_modules/kafkajs')" || die "kafkajs does not load from $js/node_modules"

# GOPATH mode: the checks' sources under shards/tests/interop/go/src, the libraries under
# /usr/share/gocode/src. go build rebuilds only what changed (its cache).
gopath=$PWD/shards/tests/interop/go
mkdir -p "$gopath/bin"
for check in saramacheck kafkagocheck; do
  # DataDog/zstd (a sarama dependency, cgo) calls a deprecated zstd function: keep its
  # compiler warning out of the output.
  GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= \
    CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" \
    go build -o "$gopath/bin/$check" "strata/$check" || die "go build of strata/$check failed"
done
