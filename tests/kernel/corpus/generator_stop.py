# A generator that is exhausted: StopIteration, uncaught
def one():
    yield 1
g = one()
print(next(g))
next(g)
