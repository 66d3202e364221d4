"""Collect task runs and find misbehaving workers (`tcw inspect-runs`).

The pipeline, one module a step: ``collect`` fetches task statuses and worker records from the queue (or
loads them from a ``--save`` file), ``runs`` flattens them into run records, ``analyse`` turns those into
per-worker statistics and flags using the tests in ``stats``, ``report`` renders the result as a table,
JSON or CSV, ``html`` as a self-contained HTML report (``templates/report.html.j2``), and ``quarantine``
acts on it. ``inspection.inspect_runs`` strings the steps together for the
CLI.
"""
