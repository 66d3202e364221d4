"""Executors run one claimed task: `shell` (generic-worker-style payloads) and Python handlers."""
