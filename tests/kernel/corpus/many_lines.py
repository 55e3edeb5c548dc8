# Many lines of output, and a long one
for i in range(200):
    print("line", i, "x" * (i % 17))
print("=" * 3000)
