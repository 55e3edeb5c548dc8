# Tests that run on the board: `pytest --board sim examples/project`.
# The project's resources (lib/ -> /lib) are synced first, so `greeting` is
# the board's copy; each test below is one pytest item.
import sys
import unittest

if "/lib" not in sys.path:
    sys.path.append("/lib")

from greeting import hello


class GreetingTest(unittest.TestCase):
    def test_default_name(self):
        self.assertEqual(hello(), "hello, world, from the board")

    def test_given_name(self):
        self.assertIn("desk", hello("desk"))

    def test_rejects_a_number(self):
        with self.assertRaises(TypeError):
            hello(42)


def test_runs_on_micropython():
    assert sys.implementation.name in ("micropython", "circuitpython")
