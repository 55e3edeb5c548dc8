# Generators: yield, send, yield from, expressions
def count(n):
    i = 0
    while i < n:
        yield i
        i += 1
print(list(count(5)))
def echo():
    got = None
    while True:
        got = yield got
g = echo()
next(g)
print(g.send(1), g.send("two"))
def chain(*its):
    for it in its:
        yield from it
print(list(chain([1, 2], (3,), count(2))))
print(sum(x * x for x in range(10)))
gen = (c.upper() for c in "abc")
print(next(gen), list(gen))
