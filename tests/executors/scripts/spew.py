"""Print argv[1] megabytes to stdout as fast as we can."""

import sys

chunk = b"x" * 1023 + b"\n"
block = chunk * 1024
for _ in range(int(sys.argv[1])):
    sys.stdout.buffer.write(block)
sys.stdout.buffer.flush()
