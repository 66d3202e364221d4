"""Archives that try to write outside their directory are refused whole, and nothing runs."""

from __future__ import annotations

import re
import tarfile

import pytest

from tcw.executors.api import MalformedPayload
from tcw.executors.shell import ShellExecutor
from tests.executors.mounts.conftest import Entry, b64, shell_payload, tar_bytes
from tests.support.task_runs import MakeRun

HOSTILE = {
    "dot-dot entry": ([Entry("../escaped.txt", b"out")], re.escape("'..'")),
    "absolute name": ([Entry("/tmp/tcw-absolute-escape.txt", b"out")], "absolute"),
    "outward symlink": ([Entry("link", kind=tarfile.SYMTYPE, link="../../outside")], "outside"),
    "absolute symlink": ([Entry("link", kind=tarfile.SYMTYPE, link="/etc")], "outside"),
    "write through a symlink": (
        [
            Entry("d", kind=tarfile.SYMTYPE, link="sub"),
            Entry("sub", kind=tarfile.DIRTYPE),
            Entry("d/f", b"x"),
        ],
        "through a symlink",
    ),
    "symlink made outward by a later one": (
        [Entry("up", kind=tarfile.SYMTYPE, link="s/.."), Entry("s", kind=tarfile.SYMTYPE, link=".")],
        "leads outside",
    ),
    "hard link out": ([Entry("h", kind=tarfile.LNKTYPE, link="../../etc/passwd")], re.escape("'..'")),
    "hard link to nothing unpacked": ([Entry("h", kind=tarfile.LNKTYPE, link="etc/passwd")], "not a file"),
    "device file": ([Entry("dev", kind=tarfile.CHRTYPE)], "device"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_archives_are_refused(executor: ShellExecutor, make_run: MakeRun, case: str) -> None:
    entries, why = HOSTILE[case]
    archive = tar_bytes(entries)
    mounts = [{"directory": "deep/er/dir", "content": {"base64": b64(archive)}, "format": "tar.gz"}]
    run = make_run(shell_payload("touch ran", mounts=mounts))
    with pytest.raises(MalformedPayload, match=why):
        await executor(run.ctx)
    assert not (run.work_dir / "ran").exists()
    assert not (run.work_dir / "deep/er/dir").exists()
    assert not (run.work_dir / "deep/escaped.txt").exists()


async def test_hostile_preload_leaves_no_cache(executor: ShellExecutor, make_run: MakeRun) -> None:
    archive = tar_bytes([Entry("../escaped.txt", b"out")])
    mounts = [{"cacheName": "c", "directory": "c", "content": {"base64": b64(archive)}, "format": "tar.gz"}]
    run = make_run(shell_payload("true", mounts=mounts), scopes=["generic-worker:cache:c"])
    with pytest.raises(MalformedPayload, match=re.escape("'..'")):
        await executor(run.ctx)
    assert executor.mounts.settings.root is not None
    caches = executor.mounts.settings.root / "caches"
    assert not any(caches.iterdir())
