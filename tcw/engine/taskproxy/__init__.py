"""The task proxy: Taskcluster calls on behalf of one run's task, signed with the run's credentials.

A taskcluster-proxy-compatible HTTP server on 127.0.0.1 (server.py) that signs every request it forwards
with the run's current temporary credentials and ``authorizedScopes`` = the task's scopes plus its own
``create-artifact`` scope (signing.py), so the task can use its scopes but never the claim's worker-only
ones (reclaim, resolve). Only processes of the allowed users may use it where the OS can tell (peers.py).
The HTTP is its own, over httptools: the task's connections (connection.py) and kept-alive connections to
the deployment (upstream.py), since aiohttp's per-request objects cost as much CPU as the call.
"""
