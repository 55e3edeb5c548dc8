import time

for i in range(3):
    print("blink", i)
    time.sleep(0.1)
