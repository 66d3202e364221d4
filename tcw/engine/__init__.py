"""The claim / run / reclaim / resolve lifecycle shared by `tcw run` and `tcw claim-once`.

- ``worker``: the ``Worker`` (claim_work, run_claimed, keep_alive, report, request_stop; run_once and
  run_forever) and ``RunRecord``.
- ``daemon``: building a worker from the config (``run_daemon``, ``claim_once``), signals, credentials.
- ``claim`` (a claimed run and its lease), ``keepalive`` (reclaims), ``taskrun`` (one run's state and
  its supervised executor), ``tasklog``, ``artifacts`` (the run's ``ArtifactPublisher``), ``payload`` (the
  schema check before a run), ``queue_port`` (the official client, its errors turned into ours),
  ``outcome`` (the contract: how a run ends and the one mapping to a report).
"""
