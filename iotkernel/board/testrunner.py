# The board side of the pytest plugin's board tests: runs the tests of one
# module and prints one line per test.
#
# Runs on MicroPython and CircuitPython, in its own namespace
# (sys.modules['__iotk_test']), installed in checked pieces. A result is a
# line: \x1e then "T" then a JSON object {"n": "Class.method" or "function",
# "s": "pass" | "fail" | "error" | "skip", "m": the message, "tb": the
# traceback} then \n; the run ends with \x1e "E" and the count of tests run.
# What a test prints goes out as it happens, before its result line.
# Tests are unittest.TestCase methods (micropython-lib's unittest, which %mip
# installs) and module-level test_* functions; a board without unittest gets
# a small stand-in with the common assertions, so plain files run anywhere.
import io
import json
import sys


class SkipTest(Exception):
    pass


def traceback_of(e):
    s = io.StringIO()
    if hasattr(sys, "print_exception"):
        sys.print_exception(e, s)
    else:  # CPython, for the fake board
        s.write("".join(__import__("traceback").format_exception(e)))
    return s.getvalue()


class K:
    k = ""  # this run's secret


def emit(name, status, message, tb):
    line = {"n": name, "s": status, "m": message[:2000], "tb": tb[-8000:]}
    sys.stdout.write("\x1eT" + K.k + json.dumps(line) + "\n")


def outcome(name, call):
    try:
        call()
    except AssertionError as e:
        emit(name, "fail", str(e), traceback_of(e))
    except Exception as e:
        if type(e).__name__ == "SkipTest":
            emit(name, "skip", str(e), "")
        else:
            emit(name, "error", type(e).__name__ + ": " + str(e), traceback_of(e))
    else:
        emit(name, "pass", "", "")


def method_call(case, method):
    def call():
        case.setUp()
        try:
            method()
        finally:
            case.tearDown()

    return call


# The stand-in for a board without unittest: the assertions tests use most.
class TestCase:
    def setUp(self):
        pass

    def tearDown(self):
        pass

    def fail(self, msg=None):
        raise AssertionError(msg or "failed")

    def skipTest(self, reason):
        raise SkipTest(reason)

    def assertEqual(self, a, b, msg=None):
        if not a == b:
            self.fail(msg or "%r != %r" % (a, b))

    def assertNotEqual(self, a, b, msg=None):
        if a == b:
            self.fail(msg or "%r == %r" % (a, b))

    def assertTrue(self, x, msg=None):
        if not x:
            self.fail(msg or "%r is not true" % (x,))

    def assertFalse(self, x, msg=None):
        if x:
            self.fail(msg or "%r is not false" % (x,))

    def assertIs(self, a, b, msg=None):
        if a is not b:
            self.fail(msg or "%r is not %r" % (a, b))

    def assertIsNone(self, x, msg=None):
        self.assertIs(x, None, msg)

    def assertIsNotNone(self, x, msg=None):
        if x is None:
            self.fail(msg or "unexpectedly None")

    def assertIn(self, a, b, msg=None):
        if a not in b:
            self.fail(msg or "%r not found in %r" % (a, b))

    def assertNotIn(self, a, b, msg=None):
        if a in b:
            self.fail(msg or "%r unexpectedly found in %r" % (a, b))

    def assertIsInstance(self, x, kind, msg=None):
        if not isinstance(x, kind):
            self.fail(msg or "%r is not an instance of %r" % (x, kind))

    def assertLess(self, a, b, msg=None):
        if not a < b:
            self.fail(msg or "%r not less than %r" % (a, b))

    def assertGreater(self, a, b, msg=None):
        if not a > b:
            self.fail(msg or "%r not greater than %r" % (a, b))

    def assertAlmostEqual(self, a, b, places=7, msg=None, delta=None):
        off = abs(a - b)
        if (off > delta) if delta is not None else round(off, places) != 0:
            self.fail(msg or "%r != %r within %r" % (a, b, delta if delta else places))

    def assertRaises(self, kind, call=None, *args, **kwargs):
        raises = Raises(kind)
        if call is None:
            return raises
        with raises:
            call(*args, **kwargs)


class Raises:
    def __init__(self, kind):
        self.kind = kind
        self.exception = None

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            raise AssertionError("%s not raised" % getattr(self.kind, "__name__", self.kind))
        if issubclass(kind, self.kind):
            self.exception = value
            return True
        return False


def skip(reason):
    def mark(f):
        def skipped(*a, **k):
            raise SkipTest(reason)

        return skipped

    return mark


def skipIf(condition, reason):
    return skip(reason) if condition else (lambda f: f)


def skipUnless(condition, reason):
    return skipIf(not condition, reason)


class StandIn:
    # Imported as `unittest` on a board without one.
    TestCase = TestCase
    SkipTest = SkipTest
    skip = skip
    skipIf = skipIf
    skipUnless = skipUnless

    def main(*a, **k):
        pass


def run(directory, module_name, wanted, key):
    # The test files' folder is first on sys.path while they run.
    sys.path.insert(0, directory)
    try:
        run_module(module_name, wanted, key)
    finally:
        sys.path.remove(directory)


def run_module(module_name, wanted, key):
    # wanted: the names to run (None: all). Small functions: each is
    # compiled on the board in a piece of its own, and a 40 KB heap may
    # hold no free block for a large one's code.
    K.k = key
    try:
        import unittest
    except ImportError:
        sys.modules["unittest"] = StandIn
    m = __import__(module_name)
    base = getattr(sys.modules.get("unittest"), "TestCase", None)
    count = 0
    for name in sorted(dir(m)):
        item = getattr(m, name)
        if name.startswith("test") and callable(item) and not isinstance(item, type):
            if wanted is None or name in wanted:
                __import__("gc").collect()
                outcome(name, item)
                count += 1
        elif isinstance(item, type) and base is not None and issubclass(item, base):
            count += run_case_class(name, item, wanted)
    sys.stdout.write("\x1eE" + K.k + str(count) + "\n")
    sys.modules.pop(module_name, None)


def run_case_class(name, item, wanted):
    # A unittest.TestCase class: its test methods, between its class fixtures.
    if hasattr(item, "setUpClass"):
        item.setUpClass()
    count = 0
    for method_name in sorted(dir(item)):
        label = name + "." + method_name
        if not method_name.startswith("test") or (wanted is not None and label not in wanted):
            continue
        __import__("gc").collect()
        case = item()
        outcome(label, method_call(case, getattr(case, method_name)))
        count += 1
    if hasattr(item, "tearDownClass"):
        item.tearDownClass()
    return count
