# A syntax error in a multi-line statement: nothing runs
print("never printed")
values = [
    1,
    2
    3,
]
