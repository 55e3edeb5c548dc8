# A script the tour runs on the board with %run, without copying it.
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 2
for i in range(count):
    print("report line", i + 1, "of", count)
