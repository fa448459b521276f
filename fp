#!/usr/bin/env bash
# fleetpilot bootstrap. The README's two commands:
#   ./fp demo    run the pilot (simulator -> broker -> ingest -> database -> API/dashboard)
#   ./fp test    run the whole test suite
#   ./fp lint    ruff (lint, format check), mypy and the import contracts, as CI runs them
# Anything else is passed to the `fleetpilot` CLI inside the project's virtual environment
# (e.g. ./fp doctor, ./fp bench ingest). The environment is created and installed from
# requirements.lock on first use, and again whenever the lock or the package metadata change.
set -euo pipefail
cd "$(dirname "$0")"

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "fp: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
    exit 1
}

ensure_venv() {
    local stamp
    stamp=".venv/.installed-$(cat requirements.lock pyproject.toml setup.py bench/pyproject.toml | sha256sum | cut -c1-16)"
    if [ ! -x .venv/bin/python ]; then
        "$(find_python)" -m venv .venv
    fi
    if [ ! -f "$stamp" ]; then
        echo "fp: installing dependencies into .venv (pinned in requirements.lock)" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
        # The benchmarks (`fleetpilot bench`): a package of their own, outside the product wheel.
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e ./bench
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}

# Debian packages the tests use as real clients and servers: Chromium for the browser tests
# (downloaded browsers cannot run here), Mosquitto for tests that need a broker of their own
# (never the shared one on 1883), GDAL (ogrinfo/ogr2ogr) as the city's GIS client of /ogc
# and reader of the open-data bundle; poppler (pdftotext, pdftoppm) reads the pilot report's PDF back.
TEST_PACKAGES=(chromium:chromium chromedriver:chromium-driver mosquitto:mosquitto ogrinfo:gdal-bin pdftotext:poppler-utils)

have_command() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

ensure_test_packages() {
    local missing=() entry
    for entry in "${TEST_PACKAGES[@]}"; do
        have_command "${entry%%:*}" || missing+=("${entry#*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
        echo "fp: installing ${missing[*]} for the tests (apt-get)" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "fp: missing ${missing[*]} and cannot install them here; install those Debian packages" \
            "(the tests that use them will fail)" >&2
    fi
}

# The monitoring tests validate the shipped alerting rules with promtool (Debian: prometheus).
ensure_promtool() {
    if command -v promtool >/dev/null 2>&1; then
        return
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
        echo "fp: installing promtool for the monitoring tests (apt-get install prometheus)" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "fp: promtool not found and cannot be installed here; install Debian's 'prometheus'" \
            "(the monitoring tests will fail without it)" >&2
    fi
}

# The pilot report's PDF (WeasyPrint) needs the system's pango (decision 0017). Chromium, one of
# the test packages, pulls it in; the demo prints the report command, so it makes sure too.
ensure_report_libs() {
    if ! command -v ldconfig >/dev/null 2>&1 && [ -x /sbin/ldconfig ]; then
        PATH="$PATH:/sbin"
    fi
    if ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0'; then
        return
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
        echo "fp: installing pango for the pilot report's PDF (apt-get)" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null
    else
        echo "fp: pango is missing and cannot be installed here: the pilot report's PDF will fail" \
            "(its HTML works); install Debian's libpango-1.0-0 and libpangoft2-1.0-0" >&2
    fi
}

command="${1:-help}"
case "$command" in
    test)
        shift
        ensure_venv
        ensure_test_packages
        ensure_promtool
        ensure_report_libs
        exec .venv/bin/python -m pytest "$@"
        ;;
    demo)
        shift
        ensure_venv
        ensure_report_libs
        exec .venv/bin/fleetpilot demo "$@"
        ;;
    lint)
        # ruff (lint and format), mypy and the import contracts, all configured in pyproject.toml.
        # Each runs even when one before it failed, so one run shows everything to fix.
        shift
        ensure_venv
        status=0
        echo "fp lint: ruff check" >&2
        .venv/bin/ruff check . || status=1
        echo "fp lint: ruff format --check" >&2
        .venv/bin/ruff format --check . || status=1
        echo "fp lint: mypy" >&2
        .venv/bin/python tools/typecheck.py || status=1
        echo "fp lint: lint-imports" >&2
        .venv/bin/python tools/lint_imports.py || status=1
        exit "$status"
        ;;
    help | -h | --help)
        sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
        ;;
    *)
        ensure_venv
        exec .venv/bin/fleetpilot "$@"
        ;;
esac
