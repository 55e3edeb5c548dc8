# What a board of this project must offer: a clock, a heap, a filesystem.
import gc
import os
import time
import unittest


class BoardBasics(unittest.TestCase):
    def test_clock_runs(self):
        start = time.ticks_ms() if hasattr(time, "ticks_ms") else time.monotonic() * 1000
        time.sleep(0.05)
        now = time.ticks_ms() if hasattr(time, "ticks_ms") else time.monotonic() * 1000
        self.assertGreater(now - start, 40)

    def test_heap_has_room(self):
        gc.collect()
        self.assertGreater(gc.mem_free(), 8 * 1024)

    def test_files_round_trip(self):
        with open("/_tests/scratch.txt", "w") as f:
            f.write("kept")
        try:
            with open("/_tests/scratch.txt") as f:
                self.assertEqual(f.read(), "kept")
        finally:
            os.remove("/_tests/scratch.txt")

    @unittest.skipIf(not hasattr(os, "uname"), "no os.uname on this port")
    def test_uname_names_the_machine(self):
        self.assertTrue(os.uname().machine)
