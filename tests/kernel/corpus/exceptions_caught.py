# Exceptions raised and caught
try:
    1 / 0
except ZeroDivisionError as e:
    print("caught", type(e).__name__)
try:
    [][1]
except IndexError:
    print("index")
try:
    {}["k"]
except KeyError as e:
    print("key", e.args)
class MyError(Exception):
    pass
try:
    raise MyError("mine", 2)
except MyError as e:
    print("mine", e.args)
try:
    try:
        raise ValueError("inner")
    finally:
        print("finally runs")
except ValueError as e:
    print("outer got", e)
