"""The queue service: tasks, runs, claims, resolution, artifacts, workers (service.py lists its methods)."""
