# Sorting with keys
words = ["banana", "Apple", "cherry", "date"]
print(sorted(words))
print(sorted(words, key=len))
print(sorted(words, key=lambda w: w.lower()))
pairs = [(2, "b"), (1, "z"), (2, "a")]
pairs.sort()
print(pairs)
print(sorted([3, 1, 2], reverse=True))
