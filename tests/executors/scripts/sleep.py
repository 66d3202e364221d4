"""Write our pid to argv[1], then sleep argv[2] seconds."""

import os
import sys
import time

with open(sys.argv[1], "a") as pids:
    pids.write(f"{os.getpid()}\n")
time.sleep(float(sys.argv[2]))
