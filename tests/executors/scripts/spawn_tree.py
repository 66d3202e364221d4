"""Start a SIGTERM-ignoring child and a sleeping one, write all three pids to argv[1], then sleep."""

import os
import subprocess
import sys
import time
from pathlib import Path

pid_file = sys.argv[1]
here = Path(__file__).parent
subprocess.Popen([sys.executable, str(here / "ignore_term.py"), pid_file])
subprocess.Popen([sys.executable, str(here / "sleep.py"), pid_file, "60"])
with open(pid_file, "a") as pids:
    pids.write(f"{os.getpid()}\n")
time.sleep(60)
