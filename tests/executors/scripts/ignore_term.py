"""Ignore SIGTERM, then write our pid to argv[1] and sleep: only SIGKILL ends us."""

import os
import signal
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "a") as pids:
    pids.write(f"{os.getpid()}\n")
time.sleep(60)
