"""generic-worker's ``mounts`` for the shell executor: files, read-only directories and writable caches.

``spec`` reads a payload's mounts and the scopes they need; ``fetch`` brings content into the content
``store`` (downloads with the official client's helpers, sha256 checked); ``unpack`` decompresses and
unpacks safely; ``caches`` keeps the pools of writable caches; ``mounter`` puts them in a run's
directory and hands them on; ``disk`` collects them when the disk runs short; ``fsutil`` holds the
crash-safety primitives (atomic state, locks, the trash). The shell executor uses ``MountManager`` only.
"""

from tcw.executors.mounts.mounter import MountedRun, MountManager, MountSettings

__all__ = ["MountManager", "MountSettings", "MountedRun"]
