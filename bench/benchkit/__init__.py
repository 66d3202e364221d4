"""Pieces the benchmarks share: a relay in front of a deployment, API call counting, process CPU, and a
local queue served from a child process. Not a benchmark itself (``make bench`` runs ``bench/*.py`` only)."""
