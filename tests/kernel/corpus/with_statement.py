# Context managers
class Resource:
    def __init__(self, name):
        self.name = name
    def __enter__(self):
        print("open", self.name)
        return self
    def __exit__(self, kind, value, tb):
        print("close", self.name, kind.__name__ if kind else None)
        return kind is KeyError
with Resource("a") as r:
    print("using", r.name)
with Resource("b"):
    raise KeyError("suppressed")
print("after")
