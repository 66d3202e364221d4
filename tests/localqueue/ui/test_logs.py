"""The log text a page shows: the end of the stored bytes, gzip content-encoding decoded."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from pathlib import Path

import pytest

from tcw.localqueue.ui import logs
from tcw.localqueue.ui.logs import TAIL_BYTES, read_tail


def test_a_page_shows_the_end_of_a_log_gzipped_or_not(tmp_path: Path) -> None:
    text = "".join(f"line {n}\n" for n in range(200_000))  # > 1 MiB
    assert len(text) > TAIL_BYTES
    plain, packed = tmp_path / "plain", tmp_path / "packed"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    for path, gzipped in ((plain, False), (packed, True)):
        shown = read_tail(path, gzipped)
        assert shown.truncated and len(shown.text) == TAIL_BYTES and text.endswith(shown.text)
    small = tmp_path / "small"
    small.write_bytes(gzip.compress(b"only line\n"))
    assert read_tail(small, True).text == "only line\n" and not read_tail(small, True).truncated


def test_a_gzip_bomb_is_decoded_only_so_far(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task may upload a log of a few hundred KiB that decodes to gigabytes: the page stops early (here
    at 4 MiB rather than MAX_DECODED, to keep the test fast)."""
    monkeypatch.setattr(logs, "MAX_DECODED", 4 << 20)
    bomb = tmp_path / "bomb"
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    with bomb.open("wb") as file:
        for _ in range(4 * logs.MAX_DECODED >> 20):
            file.write(packer.compress(zeros))
        file.write(packer.flush())
    assert bomb.stat().st_size < logs.MAX_DECODED // 100
    tracemalloc.start()
    try:
        shown = read_tail(bomb, True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # decoded in chunks: not the 16 MiB at once
    assert shown.cut_short and shown.truncated and len(shown.text) == TAIL_BYTES
