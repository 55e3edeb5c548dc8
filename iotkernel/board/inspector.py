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


def container(v, depth):
    # A container by its first ITEMS items ("key: value" in a dict); nested
    # ones three levels deep at most; an empty one by its repr (set(), not
    # {}). One function, not two: a call costs.
    if not v or depth > 2:
        return "…" if v else repr(v)
    m = isinstance(v, dict)
    o = []
    for i, x in enumerate(v):
        if i >= ITEMS:
            o.append("…")
            break
        t = short(x, 20, depth + 1)
        o.append(t + ": " + short(v[x], 20, depth + 1) if m else t)
    t = ", ".join(o)
    if isinstance(v, tuple):
        return "(" + t + "," * (len(v) == 1) + ")"
    return ("[%s]" if isinstance(v, list) else "{%s}") % t


def short(v, n, depth=0):
    # A short text of v: at most about n characters. Each function of this
    # module stays under ~500 characters of source: one compiled piece a
    # fragmented 40 KB heap still finds room for.
    try:
        if isinstance(v, (str, bytes, bytearray)):
            s = repr(v[: n + 1])
        elif isinstance(v, (list, tuple, dict, set, frozenset)):
            s = container(v, depth)
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
    # The user's variables, by name: [name, type, short value, size,
    # expandable]. A generator: the host streams it a row at a time, so no
    # listing ever sits whole in a small heap.
    count = 0
    for k in sorted(g):
        if k.startswith("__"):
            continue
        v = g[k]
        if kind(v) in SKIP or sys.modules.get(k) is v:  # code, or a module stand-in
            continue
        yield row(k, v, n)
        count += 1
        if count >= limit:
            return


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


def members(v):
    # (name, value, step) of a value's items, or of an object's attributes.
    if isinstance(v, dict):
        for i, k in enumerate(v):
            yield short(k, 40), v[k], ["i", i]
    elif isinstance(v, SEQUENCES + SETS):
        for i, x in enumerate(v):
            yield str(i), x, ["i", i]
    elif hasattr(v, "__dict__"):
        for k in sorted(v.__dict__):
            yield k, v.__dict__[k], ["a", k]


def children(g, path, limit, n):
    # One level of a value: [name, type, short value, size, expandable,
    # step]; a generator, streamed as names() is.
    for i, (k, x, step) in enumerate(members(resolve(g, path))):
        if i >= limit:
            return
        yield row(k, x, n) + [step]


def full(g, path, n):
    # The whole repr of a value as (text, end): shown are text[:end], and an
    # ellipsis when end < len(text). Cut to n characters and to what the
    # heap can hold: a repr that finds no free block is tried again shorter
    # (a text's repr is built from a shorter slice of it). Cutting by `end`
    # rather than by slicing and concatenating spares two copies of the
    # text that a small heap may not have room for.
    v = resolve(g, path)
    gc = __import__("gc")
    gc.collect()
    room = min(n, max(80, gc.mem_free() // 8))
    while True:
        try:
            return attempt(v, room)
        except MemoryError:
            if room <= 80 or not isinstance(v, (str, bytes, bytearray)):
                return failed("MemoryError")
            room //= 2
            gc.collect()
        except Exception as e:  # a __repr__ that raises
            return failed(type(e).__name__)


def attempt(v, room):
    s = repr(v[: room + 1]) if isinstance(v, (str, bytes, bytearray)) else repr(v)
    return s, min(room, len(s))


def failed(why):
    s = "<repr failed: " + why + ">"
    return s, len(s)


# The whole repr goes back in pieces, each a row of its own: one JSON reply
# of a few KB is more than a small heap may hold at once.
held = ["", 0]


def hold(g, path, n):
    # Keeps the repr for pieces(); its length as shown (the ellipsis is one).
    held[0] = ""
    s, end = full(g, path, n)
    held[0] = s
    held[1] = end
    return end + (1 if end < len(s) else 0)


def pieces():
    s, end = held
    held[0] = ""
    for i in range(0, end, 200):
        yield s[i : min(i + 200, end)]
    if end < len(s):
        yield "…"
