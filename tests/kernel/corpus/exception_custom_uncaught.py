# An uncaught exception of a class defined by the script
class SensorFault(Exception):
    pass
print("reading")
raise SensorFault("sensor 3 did not answer")
