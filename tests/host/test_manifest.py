"""firmware/manifest.py (issue 15): a MicroPython build with microcgi frozen in gets every
module deploy puts on a board, and only those. The build itself is not run here (no
ESP-IDF, no Pico SDK): the manifest is executed with stand-ins of makemanifest.py's
functions, which record what it asks for.
"""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _deploy():
    spec = importlib.util.spec_from_file_location("deploy_for_manifest", REPO / "tools/deploy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_manifest(board_manifest=True):
    """What the manifest includes and freezes; without board_manifest, including the
    board's own manifest fails as makemanifest.py fails on a file that is not there."""
    calls = []

    def include(path, **kwargs):
        if "$(BOARD_DIR)" in path and not board_manifest:
            raise OSError(f"no such file: {path}")
        calls.append(("include", path))

    def package(name, files=None, base_path=".", opt=None):
        calls.append(("package", name, tuple(files or ()), base_path, opt))

    code = (REPO / "firmware" / "manifest.py").read_text()
    exec(compile(code, "firmware/manifest.py", "exec"), {"include": include, "package": package})
    return calls


def test_the_manifest_freezes_what_deploy_puts_on_a_board():
    deploy = _deploy()
    wanted = {
        p.name
        for p in (REPO / "firmware" / "microcgi").glob("*.py")
        if p.name not in deploy.HOST_ONLY
    }
    calls = run_manifest()
    assert calls[0] == ("include", "$(BOARD_DIR)/manifest.py")
    packages = [c for c in calls if c[0] == "package"]
    assert len(packages) == 1
    _, name, files, base_path, opt = packages[0]
    assert (name, base_path, opt) == ("microcgi", ".", 3)  # -O3, as deploy compiles
    assert set(files) == wanted and len(files) == len(wanted)
    assert "main.py" not in files  # a frozen main.py would run instead of the board's


def test_a_board_without_a_manifest_of_its_own_gets_the_ports():
    calls = run_manifest(board_manifest=False)
    assert calls[0] == ("include", "$(PORT_DIR)/boards/manifest.py")
