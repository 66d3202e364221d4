"""A local Taskcluster-compatible deployment (queue and object services), for demos, development and tests.

Production workers talk to a real Taskcluster deployment; this one exists so that tcw (and any Taskcluster
client) can run with no deployment at hand, and so that every test talks real HTTP.

Layers, each importing only those below it (tests/localqueue/test_layers.py checks it):
``server``/``deployment`` (run it; which services) > ``http`` > ``services`` (queue/, object/, ...) >
``auth`` > ``storage`` > ``core``.
"""
