"""The local deployment's read-only web view (server-rendered pages at the Taskcluster UI's paths)."""
