"""The claim / run / reclaim / resolve lifecycle shared by `tcw run` and `tcw claim-once`.

- ``worker``: the ``Worker`` (claim_work, run_claimed, keep_alive, report, request_stop; run_once and
  run_forever) and ``RunRecord``.
- ``daemon``: building a worker from the config (``serve``, ``serve_one`` and their process entry points
  ``run_daemon``, ``run_claim_once``), signals, credentials; ``executor_choice`` (which executor name a
  queue gets), ``children`` (how the loop waits for task processes).
- ``claim`` (a claimed run and its lease), ``keepalive`` (reclaims), ``taskrun`` (one run's state and
  its supervised executor), ``tasklog``, ``artifacts`` (the run's ``ArtifactPublisher``), ``payload`` (the
  schema check before a run), ``queue_port`` (the queue calls the engine makes, over
  ``tcw.taskcluster_client``), ``outcome`` (the one mapping from how a run ended to its report).
- What keeps a task in its place: ``workroot`` (the private work root, task dirs and logs), ``sandbox``
  (each run's cgroup or the subreaper, the task user, parent death), ``upload_source`` (what an upload
  may read), ``isolation`` (the worker's own secrets out of tasks' reach).

The engine depends on the executor contract (``tcw.executors.api``) and never on a concrete executor.
"""
