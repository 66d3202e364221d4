"""fileMount and readOnlyDirectory in the shell executor: every content kind, digests, refused paths."""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from pathlib import Path

import pytest

from tcw.executors.api import MalformedPayload
from tcw.executors.shell import ShellExecutor
from tests.executors.mounts.conftest import Entry, Served, b64, sha256, shell_payload, tar_bytes
from tests.support.task_runs import MakeRun


async def test_file_mounts_from_raw_base64_and_a_url(
    executor: ShellExecutor, make_run: MakeRun, served: Served
) -> None:
    served.files["/tool.gz"] = gzip.compress(b"from the url\n")
    mounts = [
        {"file": "raw.txt", "content": {"raw": "raw text\n"}},
        {"file": "sub/dir/b64.bin", "content": {"base64": b64(b"\x00\x01binary")}},
        {"file": "tool", "content": {"url": f"{served.url}/tool.gz"}, "format": "gz"},
    ]
    run = make_run(shell_payload("cat raw.txt tool > out.txt", mounts=mounts))
    await executor(run.ctx)
    assert (run.work_dir / "out.txt").read_text() == "raw text\nfrom the url\n"
    assert (run.work_dir / "sub/dir/b64.bin").read_bytes() == b"\x00\x01binary"
    assert served.requests["/tool.gz"] == 1


async def test_a_url_is_downloaded_again_after_a_server_error(
    executor: ShellExecutor, make_run: MakeRun, served: Served
) -> None:
    served.files["/flaky"] = b"eventually\n"
    served.failures_left = 1
    run = make_run(shell_payload("true", mounts=[{"file": "f", "content": {"url": f"{served.url}/flaky"}}]))
    await executor(run.ctx)
    assert (run.work_dir / "f").read_bytes() == b"eventually\n"
    assert served.requests["/flaky"] == 2


async def test_a_wrong_sha256_is_malformed_naming_both_digests(
    executor: ShellExecutor, make_run: MakeRun, served: Served
) -> None:
    served.files["/data"] = b"the real bytes"
    wrong = "0" * 64
    run = make_run(
        shell_payload(
            "touch ran", mounts=[{"file": "f", "content": {"url": f"{served.url}/data", "sha256": wrong}}]
        )
    )
    with pytest.raises(MalformedPayload) as refused:
        await executor(run.ctx)
    assert wrong in str(refused.value) and sha256(b"the real bytes") in str(refused.value)
    assert not (run.work_dir / "ran").exists() and not (run.work_dir / "f").exists()


async def test_the_content_store_serves_a_second_task_without_a_download(
    executor: ShellExecutor, make_run: MakeRun, served: Served
) -> None:
    archive = tar_bytes([Entry("bin/tool", b"#!/bin/sh\necho tool ran\n", mode=0o755)])
    served.files["/tools.tar.gz"] = archive
    content = {"url": f"{served.url}/tools.tar.gz", "sha256": sha256(archive)}
    mounts = [{"directory": "tools", "content": content, "format": "tar.gz"}]
    for _ in range(2):
        run = make_run(shell_payload("tools/bin/tool > out", mounts=mounts))
        await executor(run.ctx)
        assert (run.work_dir / "out").read_text() == "tool ran\n"
    assert served.requests["/tools.tar.gz"] == 1
    assert any("no download" in line for line in run.log_lines())


async def test_read_only_directory_files_are_read_only_and_a_changed_tree_is_unpacked_again(
    executor: ShellExecutor, make_run: MakeRun
) -> None:
    archive = tar_bytes([Entry("data.txt", b"original\n")])
    mounts = [{"directory": "ro", "content": {"base64": b64(archive)}, "format": "tar.gz"}]
    first = make_run(shell_payload("test ! -w ro/data.txt || [ $(id -u) = 0 ]", mounts=mounts))
    await executor(first.ctx)
    # A task that could write anyway (root, or one that chmods the shared file) changes it in place:
    shared = first.work_dir / "ro/data.txt"
    shared.chmod(0o644)
    shared.write_text("tampered\n")
    second = make_run(shell_payload("cat ro/data.txt > out", mounts=mounts))
    await executor(second.ctx)
    assert (second.work_dir / "out").read_text() == "original\n"


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/etc/tcw-test-file", "absolute"),
        ("../outside", "leaves the task directory"),
        ("a/../../x", "leaves"),
    ],
)
async def test_paths_outside_the_task_directory_are_refused(
    executor: ShellExecutor, make_run: MakeRun, path: str, why: str
) -> None:
    run = make_run(shell_payload("touch ran", mounts=[{"file": path, "content": {"raw": "x"}}]))
    with pytest.raises(MalformedPayload, match=why):
        await executor(run.ctx)
    assert not (run.work_dir / "ran").exists()
    assert not (run.work_dir.parent / "outside").exists()


async def test_absolute_paths_when_the_worker_allows_them(make_run: MakeRun, tmp_path: Path) -> None:
    from tcw.executors.mounts import MountManager, MountSettings

    allowing = ShellExecutor(mounts=MountManager(MountSettings(root=tmp_path / "m", allow_absolute=True)))
    target = tmp_path / "elsewhere" / "f.txt"
    run = make_run(shell_payload("true", mounts=[{"file": str(target), "content": {"raw": "anywhere"}}]))
    await allowing(run.ctx)
    assert target.read_text() == "anywhere"


async def test_overlapping_mounts_and_unsupported_formats_are_named(
    executor: ShellExecutor, make_run: MakeRun
) -> None:
    mounts = [
        {"file": "a/b", "content": {"raw": "x"}},
        {"file": "a", "content": {"raw": "y"}},
        {"directory": "c", "content": {"raw": "z"}, "format": "7z"},
        {"file": "d", "content": {"raw": "z"}, "format": "br"},
    ]
    run = make_run(shell_payload("true", mounts=mounts))
    with pytest.raises(MalformedPayload) as refused:
        await executor(run.ctx)
    message = str(refused.value)
    assert "overlap" in message and "archive format 7z" in message and "compression format br" in message


async def test_a_non_public_artifact_needs_its_get_artifact_scope(
    executor: ShellExecutor, make_run: MakeRun
) -> None:
    content = {"taskId": "fSb5oxrnSeOa5jWv3Ptk3Q", "artifact": "private/secret.tar.gz"}
    run = make_run(shell_payload("true", mounts=[{"directory": "d", "content": content, "format": "tar.gz"}]))
    with pytest.raises(MalformedPayload, match=re.escape("queue:get-artifact:private/secret.tar.gz")):
        await executor(run.ctx)


@pytest.mark.parametrize("compression", ["", "gz", "bz2", "xz"])
async def test_tar_formats_unpack(executor: ShellExecutor, make_run: MakeRun, compression: str) -> None:
    archive = tar_bytes([Entry("d", kind=tarfile_dir()), Entry("d/f.txt", b"inside\n")], compression)
    format = f"tar.{compression}" if compression else "tar"
    run = make_run(
        shell_payload(
            "cat x/d/f.txt > out",
            mounts=[{"directory": "x", "content": {"base64": b64(archive)}, "format": format}],
        )
    )
    await executor(run.ctx)
    assert (run.work_dir / "out").read_text() == "inside\n"


async def test_zip_zst_and_lz4_unpack(executor: ShellExecutor, make_run: MakeRun) -> None:
    import lz4.frame
    import zstandard

    plain = tar_bytes([Entry("f.txt", b"packed\n")], "")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("f.txt", "packed\n")
    formats = {
        "zip": buffer.getvalue(),
        "tar.zst": zstandard.ZstdCompressor().compress(plain),
        "tar.lz4": lz4.frame.compress(plain),
    }
    mounts = [
        {"directory": name.replace(".", "_"), "content": {"base64": b64(data)}, "format": name}
        for name, data in formats.items()
    ]
    run = make_run(shell_payload("cat zip/f.txt tar_zst/f.txt tar_lz4/f.txt > out", mounts=mounts))
    await executor(run.ctx)
    assert (run.work_dir / "out").read_text() == "packed\n" * 3


def tarfile_dir() -> bytes:
    import tarfile

    return tarfile.DIRTYPE


async def test_a_url_answering_404_is_malformed_and_one_failing_for_good_is_unavailable(
    make_run: MakeRun, served: Served, mounts_root: Path
) -> None:
    from tcw.executors.api import ResourceUnavailable
    from tcw.executors.mounts import MountManager, MountSettings

    executor = ShellExecutor(mounts=MountManager(MountSettings(root=mounts_root, download_retries=1)))
    missing = {"file": "f", "content": {"url": f"{served.url}/nope"}}
    with pytest.raises(MalformedPayload, match="404"):
        await executor(make_run(shell_payload("true", mounts=[missing])).ctx)
    served.files["/down"] = b"never served"
    served.failures_left = 100
    down = {"file": "f", "content": {"url": f"{served.url}/down"}}
    with pytest.raises(ResourceUnavailable, match="after retries"):
        await executor(make_run(shell_payload("true", mounts=[down])).ctx)
    assert served.requests["/down"] == 2  # the first try and the one retry allowed
