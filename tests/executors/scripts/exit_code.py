"""Say hello on stdout and stderr, then exit with argv[1]."""

import sys

print("hello from stdout", flush=True)
print("hello from stderr", file=sys.stderr, flush=True)
sys.exit(int(sys.argv[1]))
