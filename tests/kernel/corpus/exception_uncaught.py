# An uncaught exception ends the script: its type is compared
print("before")
def deep(n):
    if n == 0:
        raise TypeError("at the bottom")
    deep(n - 1)
deep(5)
print("never")
