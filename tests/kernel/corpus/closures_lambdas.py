# Closures, lambdas, default arguments
def make_adder(n):
    def add(x):
        return x + n
    return add
add3 = make_adder(3)
print(add3(4), make_adder(-1)(1))
fs = [lambda x, i=i: x * i for i in range(4)]
print([f(10) for f in fs])
def counter():
    count = 0
    def inc():
        nonlocal count
        count += 1
        return count
    return inc
c = counter()
print(c(), c(), c())
