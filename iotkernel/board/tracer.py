# Board-side tracer of IoT Kernel's debugger (MicroPython source).
#
# Needs sys.settrace (firmware built with MICROPY_PY_SYS_SETTRACE). Installed
# into sys.modules['__iotk_dbg'] only while the debugger is on, and armed by
# start() for one cell: it stops at the cell's breakpoints (its lines) and
# after a step, says so on stdout (a line marked with the cell's key), and
# waits for a command on stdin:
#   c  continue      n  next line (this frame or its callers)
#   s  step in       o  step out (the caller's next line)
#   v [path]         the user's variables (or one level of the value at
#                    path, as the inspector gives them), answered on stdout
# Ctrl-C while it waits ends the cell (KeyboardInterrupt), as ■ should.
# Only the cell's own code is traced (<stdin>: the cell and functions cells
# defined), from the cell's first line until its frame returns.

import sys
import json

S = {"key": "", "lines": (), "mode": "run", "depth": 0, "stop_at": 0, "begun": False}
S["g"] = None
STACK = []


def start(g, key, lines):
    STACK[:] = []
    S.update(g=g, key=key, lines=set(lines), mode="run", stop_at=0, begun=False)
    sys.settrace(trace)


def stop():
    sys.settrace(None)
    STACK[:] = []
    S["g"] = None


def say(obj):
    print("\x1eD" + S["key"] + json.dumps(obj))


def trace(frame, event, arg):
    code = frame.f_code
    if code.co_filename != "<stdin>":
        return None
    if event == "call":
        if frame.f_back is None:  # a new exec of the REPL
            if S["begun"]:
                sys.settrace(None)  # the cell is over: the next exec is not traced
                return None
            S["begun"] = True
        STACK.append(frame)
        return trace
    if event == "return":
        if STACK and STACK[-1] is frame:
            STACK.pop()
        if S["mode"] == "out" and len(STACK) < S["stop_at"]:
            S["mode"] = "step"  # stop at the caller's next line
        return trace
    if event == "line":
        mode = S["mode"]
        if (
            mode == "step"
            or (mode == "next" and len(STACK) <= S["stop_at"])
            or frame.f_lineno in S["lines"]
        ):
            pause(frame, "step" if mode != "run" else "breakpoint")
    return trace


def pause(frame, reason):
    S["mode"] = "run"
    say({"stopped": reason, "stack": [[f.f_code.co_name, f.f_lineno] for f in STACK]})
    while True:
        line = sys.stdin.readline().strip()
        if line == "c":
            return
        if line in ("n", "o"):
            S["mode"] = "next" if line == "n" else "out"
            S["stop_at"] = len(STACK)
            return
        if line == "s":
            S["mode"] = "step"
            return
        if line.startswith("v"):
            say({"rows": variables(line[1:].strip())})


def variables(path):
    inspector = sys.modules.get("__iotk_vars")
    if inspector is None:
        return []
    try:
        if path:
            return list(inspector["children"](S["g"], json.loads(path), 500, 120))
        return list(inspector["names"](S["g"], 500, 120))
    except Exception as e:
        return {"error": type(e).__name__}
