# *args, **kwargs, unpacking
def f(a, b=2, *args, **kwargs):
    return a, b, args, sorted(kwargs.items())
print(f(1))
print(f(1, 3, 4, 5, x=6, y=7))
first, *rest = [1, 2, 3, 4]
print(first, rest)
a, (b, c) = 1, (2, 3)
print(a, b, c)
print([*range(3), *"ab"])
print({**{"a": 1}, "b": 2} == {"a": 1, "b": 2})
