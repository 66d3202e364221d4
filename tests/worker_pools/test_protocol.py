"""The protocol's line codec, the handshake over real pipes, and the reregistration timing."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from tcw.engine.pool import renew_delay
from tcw.engine.runner import CAPABILITIES, ProtocolError, RunnerChannel, decode, encode
from tests.worker_pools.simulated_runner import parse_line


def test_encode_is_one_line_the_runner_reads() -> None:
    line = encode({"type": "error-report", "kind": "k", "title": "t", "description": "a\nb", "extra": {}})
    assert line.startswith(b"~{") and line.endswith(b"}\n") and line.count(b"\n") == 1
    assert parse_line(line) == {
        "type": "error-report",
        "kind": "k",
        "title": "t",
        "description": "a\nb",
        "extra": {},
    }


def test_encode_needs_a_string_type() -> None:
    with pytest.raises(ValueError, match="string type"):
        encode({"type": 7})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'~{"type":"welcome","capabilities":[]}\n', {"type": "welcome", "capabilities": []}),
        (b'  ~{"type":"x"}  \r\n', {"type": "x"}),
        (b"plain text\n", None),
        (b'~{"type":7}\n', None),
        (b'~{"kind":"x"}\n', None),
        (b"~{not json}\n", None),
        (b'~["type"]\n', None),
        (b'x~{"type":"x"}\n', None),
        (b"~{}\n", None),
        (b"\xff\xfe\n", None),
    ],
)
def test_decode_follows_workerproto(line: bytes, expected: object) -> None:
    assert decode(line) == expected
    assert parse_line(line) == expected  # the simulated runner reads lines the same way


def _pipes() -> tuple[RunnerChannel, int, int]:
    """A channel whose runner side is (write end of its input, read end of its output)."""
    to_worker_read, to_worker_write = os.pipe()
    from_worker_read, from_worker_write = os.pipe()
    return RunnerChannel(to_worker_read, from_worker_write), to_worker_write, from_worker_read


def test_handshake_answers_hello_and_agrees_on_the_intersection() -> None:
    channel, runner_out, runner_in = _pipes()
    os.write(runner_out, b'starting up\n~{"type":"other"}\n')
    os.write(runner_out, b'~{"type":"welcome","capabilities":["log","new-credentials","future-thing"]}\n')
    agreed = asyncio.run(channel.handshake())
    assert agreed == {"log", "new-credentials"}
    hello = parse_line(os.read(runner_in, 65536))
    assert hello == {"type": "hello", "capabilities": list(CAPABILITIES)}
    assert channel.send("log", body={"textPayload": "x"})
    assert not channel.send("shutdown")  # not agreed: never sent
    assert parse_line(os.read(runner_in, 65536)) == {"type": "log", "body": {"textPayload": "x"}}
    channel.close()
    os.close(runner_out)
    os.close(runner_in)


def test_a_runner_closing_before_its_welcome_is_a_protocol_error() -> None:
    channel, runner_out, runner_in = _pipes()
    os.close(runner_out)
    with pytest.raises(ProtocolError, match="before sending its welcome"):
        asyncio.run(channel.handshake())
    channel.close()
    os.close(runner_in)


def test_messages_after_the_handshake_skip_plain_text() -> None:
    channel, runner_out, runner_in = _pipes()
    welcome = json.dumps({"type": "welcome", "capabilities": ["graceful-termination"]})
    os.write(
        runner_out, f'~{welcome}\nnoise\n~{{"type":"graceful-termination","finish-tasks":false}}\n'.encode()
    )
    os.close(runner_out)

    async def read_all() -> list[dict[str, object]]:
        await channel.handshake()
        return [message async for message in channel.messages()]

    assert asyncio.run(read_all()) == [{"type": "graceful-termination", "finish-tasks": False}]
    channel.close()
    os.close(runner_in)


@pytest.mark.parametrize(
    ("until_expiry", "delay"),
    [
        (4 * 24 * 3600.0, 4 * 24 * 3600.0 - 1800),  # long-lived: 30 min before expiry
        (1800 + 400.0, 400.0),
        (1800 + 100.0, 300.0),  # never sooner than 5 min...
        (320.0, 290.0),  # ...but never later than 30 s before expiry
        (33.0, 3.0),
        (10.0, 0.0),
    ],
)
def test_renewal_follows_worker_runner(until_expiry: float, delay: float) -> None:
    assert renew_delay(until_expiry) == pytest.approx(delay)
