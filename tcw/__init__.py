"""tcw: run purpose-specific Taskcluster workers.

The package is a library as much as a command-line tool: ``tcw.engine`` claims, reclaims and resolves
tasks, ``tcw.executors`` runs them, ``tcw.registry`` validates payloads, ``tcw.inspect`` finds bad
workers and ``tcw.localqueue`` is a Taskcluster-compatible queue for demos, development and tests.
"""

__version__ = "0.1.0"
