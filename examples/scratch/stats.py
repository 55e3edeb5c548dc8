# A module edited on the host and imported by the board through %mount.
def mean(values):
    return sum(values) / len(values)


def spread(values):
    return max(values) - min(values)
