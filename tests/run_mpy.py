# Runs tests/core under MicroPython (and CPython), where pytest does not exist:
#
#   .venv/bin/micropython tests/run_mpy.py [test_module ...]
#
# Imports every tests/core/test_*.py (or the modules named on the command line), calls each
# of its test_* functions with no arguments, prints every failure with its traceback, and
# ends with one line "N passed, N failed"; the exit status is 1 when anything failed.
# MicroPython has no os.path and no importlib: paths are joined by hand, modules loaded with
# __import__.
import gc
import os
import sys

try:
    print_exception = sys.print_exception
except AttributeError:  # CPython
    import traceback

    def print_exception(e):
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stdout)


def _here():
    path = sys.argv[0] if sys.argv and sys.argv[0] else "tests/run_mpy.py"
    head = path.rpartition("/")[0]
    return head if head else "."


def _module_names(core, argv):
    if argv:
        names = []
        for arg in argv:
            name = arg.rpartition("/")[2]
            if name.endswith(".py"):
                name = name[:-3]
            names.append(name)
        return names
    try:
        files = os.listdir(core)
    except OSError:  # no tests/core yet
        files = []
    names = [f[:-3] for f in files if f.startswith("test_") and f.endswith(".py")]
    names.sort()
    return names


def _run_module(name):
    """Import one module and run its tests; returns (passed, failed)."""
    try:
        module = __import__(name)
    except Exception as e:
        print("ERROR %s: import failed" % name)
        print_exception(e)
        return 0, 1
    passed = failed = 0
    for attr in sorted(dir(module)):
        test = getattr(module, attr)
        if not attr.startswith("test_") or not callable(test):
            continue
        try:
            test()
        except Exception as e:
            failed += 1
            print("FAIL %s.%s" % (name, attr))
            print_exception(e)
        else:
            passed += 1
        gc.collect()
    return passed, failed


def main(argv):
    here = _here()
    root = here + "/.."
    core = here + "/core"
    sys.path.insert(0, root + "/firmware")
    sys.path.insert(0, core)
    passed = failed = 0
    for name in _module_names(core, argv):
        p, f = _run_module(name)
        passed += p
        failed += f
        gc.collect()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
