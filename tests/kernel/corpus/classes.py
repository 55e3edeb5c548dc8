# Classes: inheritance, super, properties, dunder methods
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def __repr__(self):
        return "Point(%d, %d)" % (self.x, self.y)
    def __add__(self, other):
        return Point(self.x + other.x, self.y + other.y)
    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)
class Named(Point):
    def __init__(self, name, x, y):
        super().__init__(x, y)
        self.name = name
    @property
    def label(self):
        return self.name + repr(self)
p = Point(1, 2) + Point(3, 4)
print(p, p == Point(4, 6), Named("n", 0, 1).label)
print(isinstance(Named("a", 1, 1), Point), type(p).__name__)
