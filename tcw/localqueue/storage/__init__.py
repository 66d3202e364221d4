"""The local deployment's storage: every SQL statement, one module per aggregate (tasks, task groups,
workers, artifacts, objects, blobs), over one ``Database`` whose caches belong to that queue alone."""
