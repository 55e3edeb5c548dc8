# A NameError, uncaught
print("start")
print(undefined_variable)
