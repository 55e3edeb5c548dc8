# A failing assert, uncaught
total = sum([1, 2, 3])
print("total", total)
assert total == 7, "the total is wrong"
