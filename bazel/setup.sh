#!/usr/bin/env bash
# Installs what the build (and, with --test, the tests and benchmarks) need on Debian 12, from
# Debian packages and the npm registry only. Idempotent: installs only what is missing, and does
# nothing (no apt-get update, no network) when everything is present.
#
#   bazel/setup.sh          build dependencies
#   bazel/setup.sh --test   build dependencies + test clients and tools
set -euo pipefail

want_test=0
for arg in "$@"; do
    case "$arg" in
    --test) want_test=1 ;;
    -h | --help)
        sed -n '2,8p' "$0"
        exit 0
        ;;
    *)
        echo "setup.sh: unknown argument '$arg'" >&2
        exit 2
        ;;
    esac
done

build_packages=(
    build-essential pkg-config bazel-bootstrap
    libgrpc-dev grpc-proto libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
    libh2o-evloop-dev libssl-dev libcurl4-openssl-dev liblmdb-dev libjansson-dev zlib1g-dev libbrotli-dev libcmocka-dev
    libmaxminddb-dev tzdata librdkafka-dev
)
test_packages=(
    python3 python3-grpcio python3-protobuf python3-botocore python3-hpack python3-jwt python3-cryptography curl openssl
    nghttp2-client wrk lmdb-utils procps
    clang-format git clang libclang-rt-14-dev chromium fonts-dejavu-core libmaxmind-db-writer-perl
    kcat prometheus
)

packages=("${build_packages[@]}")
[ "$want_test" = 1 ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# Swagger UI's assets for /docs (npm swagger-ui-dist), read by the server at start from this
# directory (--swagger-ui-dir). Without them the server runs and /docs answers 503.
# Node/npm come with the machine (do not apt-get install npm: it conflicts with the preinstalled
# nodesource build).
swagger_ui=/opt/pz-swagger-ui
if [ ! -f "$swagger_ui/node_modules/swagger-ui-dist/swagger-ui-bundle.js" ]; then
    if command -v npm >/dev/null; then
        echo "setup: installing swagger-ui-dist into $swagger_ui" >&2
        mkdir -p "$swagger_ui"
        npm install --silent --no-audit --no-fund --prefix "$swagger_ui" swagger-ui-dist@5 >/dev/null
    else
        echo "setup: npm not found: /docs (Swagger UI) will answer 503 until swagger-ui-dist is installed" >&2
    fi
fi

# Test clients from npm, in a fixed prefix that the integration tests look in: buf (gRPC
# reflection client), grpc-js, puppeteer-core (drives Debian's chromium for the page tests), and
# the OpenAPI tools the document is judged by (redocly, swagger-parser, ajv, openapi-typescript +
# openapi-fetch + typescript).
if [ "$want_test" = 1 ]; then
    tools=/opt/pz-test-tools
    npm_tools=(@bufbuild/buf@1 @grpc/grpc-js@1 @grpc/proto-loader@0 puppeteer-core@23
        @redocly/cli@2 @apidevtools/swagger-parser@12 ajv@8 ajv-formats@3 openapi-typescript@7 openapi-fetch@0.17
        typescript@5)
    if [ ! -x "$tools/node_modules/.bin/buf" ] || [ ! -d "$tools/node_modules/@grpc/grpc-js" ] ||
        [ ! -d "$tools/node_modules/puppeteer-core" ] || [ ! -x "$tools/node_modules/.bin/redocly" ] ||
        [ ! -d "$tools/node_modules/@apidevtools/swagger-parser" ] || [ ! -d "$tools/node_modules/ajv-formats" ] ||
        [ ! -x "$tools/node_modules/.bin/openapi-typescript" ] || [ ! -d "$tools/node_modules/openapi-fetch" ] ||
        [ ! -x "$tools/node_modules/.bin/tsc" ]; then
        if ! command -v npm >/dev/null; then
            echo "setup: npm is needed for the test clients (buf, @grpc/grpc-js, ...); install Node.js 18+" >&2
            exit 1
        fi
        echo "setup: installing ${npm_tools[*]} into $tools" >&2
        mkdir -p "$tools"
        npm install --silent --no-audit --no-fund --prefix "$tools" "${npm_tools[@]}" >/dev/null
    fi
fi
