# Loops, break, continue, else
for i in range(10):
    if i % 2:
        continue
    if i > 6:
        break
    print("even", i)
else:
    print("no break")
n = 0
while n < 3:
    n += 1
else:
    print("while done", n)
for i, c in enumerate("ab"):
    print(i, c)
for a, b in zip([1, 2, 3], "xyz"):
    print(a, b)
