#!/usr/bin/env bash
# Installs everything authsvc needs on a fresh Debian machine with only Python: system packages (apt-get,
# as root or through sudo), a virtualenv in .venv, the package with its extras, and the face models.
# Usage: scripts/install.sh [--dev]     (idempotent; a second run only checks)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=${1:-}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# openssl: independent peer in the PKI tests; libengine-gost-openssl: fast Streebog for large GOST CRLs; postgresql: a throwaway server when none is running;
# libgl1/libglib2.0-0: shared libraries the mediapipe wheel loads. wrk: the HTTP load generator of the benchmarks (C, so it leaves the second core to PostgreSQL).
APT_PACKAGES="openssl libengine-gost-openssl postgresql postgresql-client libgl1 libglib2.0-0 wrk"
# smart cards: pcscd + the vpcd reader driver the virtual card plugs into, OpenSC (opensc-pkcs11.so and
# pkcs11-tool, the independent PIV client in the tests); libpcsclite-dev and swig build pyscard where the
# registry offers it only as source (pyscard 2.3.1 has no manylinux wheel for every Python).
# softhsm2: the PKCS#11 token of the tests and the HSM key store's test backend.
APT_PACKAGES="$APT_PACKAGES pcscd vsmartcard-vpcd opensc softhsm2 libpcsclite-dev swig"
# chromium + chromium-driver: the hosted page's browser tests (real headless Chromium with a fake camera,
# driven by Selenium through the driver Debian builds for that same Chromium).
APT_PACKAGES="$APT_PACKAGES chromium chromium-driver fonts-dejavu-core"  # DejaVu: Kazakh and Russian text in the screenshots
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing system packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/pip --disable-pip-version-check -q"
$PIP install --upgrade 'pip>=23' 'setuptools<81' wheel
if [ "$DEV" = "--dev" ]; then $PIP install -e '.[dev,face,hw]'; else $PIP install -e '.[face,hw]'; fi
# mediapipe 0.10.21 (Apache-2.0 Face Mesh, shipped inside the wheel) is installed without its declared
# dependencies: they would replace the headless OpenCV and pull jax; what it really imports is in [face].
$PIP install --no-deps 'mediapipe==0.10.21'
.venv/bin/python -c "import liveness.models as m; m.locate_models()" >/dev/null
echo "install complete: $(.venv/bin/python --version), $(.venv/bin/authsvc --help >/dev/null && echo authsvc ok)"
