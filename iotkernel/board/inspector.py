# Board-side variable inspector of IoT Kernel (MicroPython source).
#
# Installed on demand (the Variables panel, %who, %whos) into a dict at
# sys.modules['__iotk_vars'], out of the user's sight; called with the user's
# globals. Every answer is small whatever the value: texts are cut to `n`
# characters and containers are shown by their first items only, so a
# 40 KB heap never builds the repr of a large list. The host checks all of it.
# Works on MicroPython, CircuitPython and CPython (the fake board).

import sys

# Kinds left out of a listing: code, not data (the kernel's own helpers live
# in sys.modules, never among the user's globals).
SKIP = ("module", "function", "closure", "bound_method", "builtin_function_or_method")
SEQUENCES = (list, tuple)
SETS = (set, frozenset)
ITEMS = 8  # container items shown in a short value


def kind(v):
    return type(v).__name__


def size(v):
    if isinstance(v, (str, bytes, bytearray, list, tuple, dict, set, frozenset)):
        return len(v)
    return None


def expandable(v):
    if isinstance(v, (list, tuple, dict, set, frozenset)):
        return len(v) > 0
    return hasattr(v, "__dict__") and not isinstance(v, type) and len(v.__dict__) > 0


def short(v, n, depth=0):
    # A short text of v: at most about n characters.
    try:
        if isinstance(v, (str, bytes, bytearray)):
            s = repr(v[: n + 1])
        elif depth > 2 and isinstance(v, (list, tuple, dict, set, frozenset)):
            s = "…"
        elif isinstance(v, dict):
            parts = []
            for i, k in enumerate(v):
                if i >= ITEMS:
                    parts.append("…")
                    break
                parts.append(short(k, 20, depth + 1) + ": " + short(v[k], 20, depth + 1))
            s = "{" + ", ".join(parts) + "}"
        elif isinstance(v, (list, tuple, set, frozenset)):
            parts = []
            for i, x in enumerate(v):
                if i >= ITEMS:
                    parts.append("…")
                    break
                parts.append(short(x, 20, depth + 1))
            inner = ", ".join(parts)
            s = (
                "[%s]" if isinstance(v, list) else "(%s)" if isinstance(v, tuple) else "{%s}"
            ) % inner
        else:
            s = repr(v)
    except Exception as e:  # a __repr__ that raises, a MemoryError
        s = "<repr failed: " + type(e).__name__ + ">"
    if len(s) > n:
        s = s[:n] + "…"
    return s


def row(name, v, n):
    return [name, kind(v), short(v, n), size(v), expandable(v)]


def names(g, limit, n):
    # The user's variables, by name: [name, type, short value, size, expandable].
    out = []
    for k in sorted(g):
        if k.startswith("__"):
            continue
        v = g[k]
        if kind(v) in SKIP or sys.modules.get(k) is v:  # code, or a module stand-in
            continue
        out.append(row(k, v, n))
        if len(out) >= limit:
            break
    return out


def resolve(g, path):
    # path: a global's name, then steps: ["i", n] an item by position (a
    # dict's n-th key's value), ["a", name] an attribute.
    v = g[path[0]]
    for step, key in path[1:]:
        if step == "a":
            v = getattr(v, key)
        elif isinstance(v, dict):
            v = v[nth(v, key)]
        elif isinstance(v, SETS):
            v = nth(v, key)
        else:
            v = v[key]
    return v


def nth(items, n):
    for i, x in enumerate(items):
        if i == n:
            return x
    raise IndexError(n)


def children(g, path, limit, n):
    # One level of a value: [name, type, short value, size, expandable, step].
    v = resolve(g, path)
    out = []
    if isinstance(v, dict):
        for i, k in enumerate(v):
            if i >= limit:
                break
            out.append(row(short(k, 40), v[k], n) + [["i", i]])
    elif isinstance(v, SEQUENCES) or isinstance(v, SETS):
        for i, x in enumerate(v):
            if i >= limit:
                break
            out.append(row(str(i), x, n) + [["i", i]])
    elif hasattr(v, "__dict__"):
        for k in sorted(v.__dict__):
            if len(out) >= limit:
                break
            out.append(row(k, v.__dict__[k], n) + [["a", k]])
    return out


def full(g, path, n):
    # The whole repr of a value, cut to n characters and to what the heap
    # can hold (the repr, its JSON, the reply's line): a text that does not
    # fit is cut shorter until it does; a cut one ends in an ellipsis.
    v = resolve(g, path)
    gc = __import__("gc")
    gc.collect()
    room = min(n, max(80, gc.mem_free() // 8))
    text = isinstance(v, (str, bytes, bytearray))
    while True:
        try:
            s = repr(v[: room + 1]) if text else repr(v)
            break
        except MemoryError:
            if not text or room <= 80:
                s = "<repr failed: MemoryError>"
                break
            room //= 2
        except Exception as e:
            s = "<repr failed: " + type(e).__name__ + ">"
            break
    if len(s) > room:
        s = s[:room] + "…"
    return s


# The whole repr goes back in pieces, each a row of its own: one JSON reply
# of a few KB is more than a small heap may hold at once.
held = [""]


def hold(g, path, n):
    held[0] = full(g, path, n)
    return len(held[0])


def pieces():
    s = held[0]
    held[0] = ""
    for i in range(0, len(s), 200):
        yield s[i : i + 200]
