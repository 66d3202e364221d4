"""A local Taskcluster-compatible Queue and object service, for demos, development and tests.

Production workers talk to a real Taskcluster deployment; this queue exists so that tcw (and any
Taskcluster client) can run with no deployment at hand, and so that every test talks real HTTP.
"""
