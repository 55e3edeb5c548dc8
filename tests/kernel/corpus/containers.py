# Lists, dicts, sets, tuples
xs = [5, 3, 8, 1]
xs.sort()
print(xs, sorted(xs, reverse=True), xs[::-1], xs[1:3])
d = {"b": 2, "a": 1}
d["c"] = 3
print(sorted(d.items()), len(d), "a" in d, d.get("z", 0))
s = {3, 1, 2}
print(sorted(s | {4}), sorted(s & {1, 9}), sorted(s - {1}))
t = (1, "two", 3.0)
print(t, t[1], len(t))
print([[i * j for j in range(3)] for i in range(3)])
print({k: v for k, v in zip("abc", range(3))} == {"a": 0, "b": 1, "c": 2})
