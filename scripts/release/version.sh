#!/usr/bin/env bash
# The version a release tag publishes, or a refusal: the tag is v<version>,
# where <version> is the workspace's (Cargo.toml), the chart's and its
# appVersion (the image tag the chart and knative/ default to), all one.
#   scripts/release/version.sh v0.1.0   # prints 0.1.0
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:?usage: version.sh <tag, v0.1.0>}"

field() { sed -n "s/^$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}$/\1/p" helm/skybook/Chart.yaml; }
cargo_version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)"
chart_version="$(field version)"
app_version="$(field appVersion)"

if [ "$tag" != "v$cargo_version" ] || [ "$chart_version" != "$cargo_version" ] || [ "$app_version" != "$cargo_version" ]; then
  echo "release: tag $tag, but Cargo.toml says $cargo_version, the chart $chart_version and its appVersion $app_version: make them one before tagging" >&2
  exit 1
fi
if grep -rhoE "image: \"?[^\"]+/skybook[^\"]*:[^\"@]+\"?" knative | grep -vq ":$cargo_version\"\?$"; then
  echo "release: knative/ names images of another version than $cargo_version: run cargo xtask manifests" >&2
  exit 1
fi
echo "$cargo_version"
