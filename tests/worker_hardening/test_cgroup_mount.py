"""Which cgroup v2 directory the worker uses, and whether its mount makes task starts wait for the kernel."""

from __future__ import annotations

from pathlib import Path

from tcw.engine.sandbox import parse_cgroup2_mount

HYBRID = """\
25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
"""
DELEGATED = """\
30 1 0:26 /workers /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate,favordynmods
"""


def test_the_worker_s_own_cgroup_below_the_v2_mount_and_its_options() -> None:
    directory, options = parse_cgroup2_mount(HYBRID, "4:memory:/x\n0::/job/7\n") or (None, None)
    assert directory == Path("/sys/fs/cgroup/unified/job/7")
    assert options == frozenset({"rw"})


def test_a_mount_of_a_subtree_maps_the_cgroup_path_below_its_root() -> None:
    directory, options = parse_cgroup2_mount(DELEGATED, "0::/workers/pool/w1\n") or (None, None)
    assert directory == Path("/sys/fs/cgroup/pool/w1")
    assert options is not None and "favordynmods" in options


def test_no_v2_hierarchy_or_a_cgroup_outside_it() -> None:
    assert parse_cgroup2_mount(HYBRID.replace("cgroup2 cgroup2", "ext4 /dev/x"), "0::/\n") is None
    assert parse_cgroup2_mount(DELEGATED, "0::/elsewhere\n") is None
    assert parse_cgroup2_mount(HYBRID, "4:memory:/x\n") is None
