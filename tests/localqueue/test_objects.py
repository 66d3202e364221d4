"""The local object service through the official client: uploads (dataInline, putUrl), hashes, downloads.

Every JSON answer is checked against the official output schema when ../shared is present.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import taskcluster
import taskcluster.aio
import taskcluster.aio.download
import taskcluster.aio.upload
import taskcluster.download
import taskcluster.upload

from tests.support.localqueue import from_now
from tests.support.references import SchemaCheck

PROJECT = "tcw-tests"


@pytest.fixture
def objects(local_queue: Any) -> Any:
    return taskcluster.Object(local_queue.client_options())


def digests(data: bytes) -> dict[str, str]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}


def begin(objects: Any, name: str, methods: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"projectId": PROJECT, "uploadId": extra.pop("uploadId", None) or taskcluster.slugId()}
    body.update(
        expires=extra.pop("expires", None) or from_now(hours=1), proposedUploadMethods=methods, **extra
    )
    reply: dict[str, Any] = objects.createUpload(name, body)
    return reply


def put(url_method: dict[str, Any], data: bytes, **header_changes: str) -> requests.Response:
    headers = {**url_method["headers"], **header_changes}
    return requests.put(url_method["url"], data=data, headers=headers, timeout=30)


def test_put_url_upload_then_every_download_method(objects: Any, check_schema: SchemaCheck) -> None:
    data = os.urandom(20_000)
    reply = begin(
        objects, "tcw/put-url", {"putUrl": {"contentType": "application/x-tcw", "contentLength": len(data)}}
    )
    check_schema("object", "v1/create-upload-response.json#", reply)
    assert reply["uploadMethod"]["putUrl"]["headers"]["Content-Encoding"] == "identity"
    assert put(reply["uploadMethod"]["putUrl"], data).status_code == 200
    with pytest.raises(taskcluster.TaskclusterRestFailure) as unfinished:
        objects.startDownload("tcw/put-url", {"acceptDownloadMethods": {"simple": True}})
    assert unfinished.value.status_code == 404

    objects.finishUpload(
        "tcw/put-url", {"projectId": PROJECT, "uploadId": reply["uploadId"], "hashes": digests(data)}
    )

    simple = objects.startDownload("tcw/put-url", {"acceptDownloadMethods": {"simple": True}})
    check_schema("object", "v1/download-object-response.json#", simple)
    got = requests.get(simple["url"], timeout=30)
    assert got.content == data
    assert got.headers["Content-Type"] == "application/x-tcw"
    get_url = objects.startDownload("tcw/put-url", {"acceptDownloadMethods": {"getUrl": True}})
    check_schema("object", "v1/download-object-response.json#", get_url)
    assert get_url["hashes"] == digests(data)
    assert requests.get(get_url["url"], timeout=30).content == data
    metadata = objects.object("tcw/put-url")
    check_schema("object", "v1/get-object-response.json#", metadata)
    assert metadata["projectId"] == PROJECT
    redirected = requests.get(objects.buildSignedUrl("download", "tcw/put-url"), timeout=30)
    assert redirected.history[0].status_code == 303
    assert redirected.content == data


def test_data_inline_upload_is_done_at_once(objects: Any) -> None:
    data = b"small object"
    inline = {"contentType": "text/plain", "objectData": base64.b64encode(data).decode()}
    reply = begin(
        objects,
        "tcw/inline",
        {"dataInline": inline, "putUrl": {"contentType": "text/plain", "contentLength": 12}},
    )
    assert reply["uploadMethod"] == {"dataInline": True}
    objects.finishUpload(
        "tcw/inline", {"projectId": PROJECT, "uploadId": reply["uploadId"], "hashes": digests(data)}
    )
    buf, content_type = taskcluster.download.downloadToBuf(name="tcw/inline", objectService=objects)
    assert (bytes(buf), content_type) == (data, "text/plain")


def test_data_inline_over_8_kib_is_refused(objects: Any) -> None:
    inline = {"contentType": "text/plain", "objectData": base64.b64encode(b"x" * 8193).decode()}
    with pytest.raises(taskcluster.TaskclusterRestFailure) as refused:
        begin(objects, "tcw/too-big-inline", {"dataInline": inline})
    assert refused.value.status_code == 400


def test_upload_helpers_round_trip(objects: Any, tmp_path: Path) -> None:
    for size in (100, 100_000):
        data = os.urandom(size)
        name = f"tcw/helper-{size}"
        taskcluster.upload.uploadFromBuf(
            projectId=PROJECT,
            name=name,
            contentType="application/octet-stream",
            contentLength=size,
            expires=from_now(hours=1),
            objectService=objects,
            data=data,
        )
        target = tmp_path / "out"
        with target.open("wb") as file:
            taskcluster.download.downloadToFile(file=file, name=name, objectService=objects)
        assert target.read_bytes() == data


async def test_aio_upload_and_download(local_queue: Any) -> None:
    data = os.urandom(30_000)
    async with taskcluster.aio.createSession() as session:
        objects = taskcluster.aio.Object(local_queue.client_options(), session=session)
        await taskcluster.aio.upload.uploadFromBuf(
            projectId=PROJECT,
            name="tcw/aio",
            contentType="application/x-aio",
            contentLength=len(data),
            expires=from_now(hours=1),
            objectService=objects,
            data=data,
        )
        buf, content_type = await taskcluster.aio.download.downloadToBuf(
            name="tcw/aio", objectService=objects
        )
    assert (bytes(buf), content_type) == (data, "application/x-aio")


def test_upload_is_locked_in_by_its_first_call(objects: Any) -> None:
    first = begin(objects, "tcw/locked", {}, hashes={"sha256": "a" * 64})
    assert first["uploadMethod"] == {}
    again = dict(uploadId=first["uploadId"], expires=first["expires"])
    assert begin(objects, "tcw/locked", {}, hashes={"sha512": "b" * 128}, **again)["uploadMethod"] == {}
    for change in ({"hashes": {"sha256": "c" * 64}}, {"uploadId": taskcluster.slugId()}):
        with pytest.raises(taskcluster.TaskclusterRestFailure) as conflict:
            begin(objects, "tcw/locked", {}, **{**again, **change})
        assert conflict.value.status_code == 409


def test_finish_upload_checks_upload_id_and_hashes(objects: Any) -> None:
    data = b"payload bytes"
    inline = {"contentType": "text/plain", "objectData": base64.b64encode(data).decode()}
    upload_id = begin(objects, "tcw/finish", {"dataInline": inline})["uploadId"]
    finish = {"projectId": PROJECT, "uploadId": upload_id}
    cases = [
        ({**finish, "uploadId": taskcluster.slugId()}, 409),
        ({**finish, "hashes": digests(b"other bytes")}, 400),
        ({**finish, "projectId": "other"}, 400),
    ]
    for body, status in cases:
        with pytest.raises(taskcluster.TaskclusterRestFailure) as refused:
            objects.finishUpload("tcw/finish", body)
        assert refused.value.status_code == status, body
    objects.finishUpload("tcw/finish", {**finish, "hashes": digests(data)})
    objects.finishUpload("tcw/finish", {**finish, "hashes": {"sha256": digests(data)["sha256"]}})
    with pytest.raises(taskcluster.TaskclusterRestFailure) as different:
        objects.finishUpload("tcw/finish", {**finish, "hashes": {"sha256": "0" * 64}})
    assert different.value.status_code == 409
    with pytest.raises(taskcluster.TaskclusterRestFailure) as finished:
        begin(objects, "tcw/finish", {}, uploadId=upload_id)
    assert finished.value.status_code == 409


def test_finish_without_data_is_an_input_error(objects: Any) -> None:
    upload_id = begin(objects, "tcw/no-data", {})["uploadId"]
    with pytest.raises(taskcluster.TaskclusterRestFailure) as refused:
        objects.finishUpload("tcw/no-data", {"projectId": PROJECT, "uploadId": upload_id})
    assert refused.value.status_code == 400


def test_put_url_pins_headers_and_signature(objects: Any) -> None:
    data = b"0123456789"
    method = begin(objects, "tcw/pinned", {"putUrl": {"contentType": "text/plain", "contentLength": 10}})
    put_url = method["uploadMethod"]["putUrl"]
    assert put(put_url, data, **{"Content-Type": "text/html"}).status_code == 403
    assert (
        put({**put_url, "url": put_url["url"].replace("signature=", "signature=0")}, data).status_code == 403
    )
    assert put(put_url, data, **{"Content-Encoding": "gzip"}).status_code == 400
    assert put(put_url, data).status_code == 200


def test_start_download_needs_a_known_method(objects: Any) -> None:
    inline = {"contentType": "text/plain", "objectData": base64.b64encode(b"x").decode()}
    upload_id = begin(objects, "tcw/methods", {"dataInline": inline})["uploadId"]
    objects.finishUpload("tcw/methods", {"projectId": PROJECT, "uploadId": upload_id})
    with pytest.raises(taskcluster.TaskclusterRestFailure) as refused:
        objects.startDownload("tcw/methods", {"acceptDownloadMethods": {}})
    assert refused.value.status_code == 406
    assert refused.value.body["code"] == "NoMatchingMethod"


def test_upload_scope_is_per_project_and_name(local_queue: Any) -> None:
    credentials = local_queue.add_client("uploader", ["object:upload:tcw-tests:tcw/allowed/*"])
    objects = taskcluster.Object(local_queue.client_options(credentials))
    assert begin(objects, "tcw/allowed/one", {})["uploadMethod"] == {}
    with pytest.raises(taskcluster.TaskclusterRestFailure) as denied:
        begin(objects, "tcw/elsewhere", {})
    assert denied.value.status_code == 403


def test_objects_survive_a_restart(make_local_queue: Any, tmp_path: Path) -> None:
    data = os.urandom(10_000)
    first = make_local_queue(db=str(tmp_path / "queue.sqlite3"))
    objects = taskcluster.Object(first.client_options())
    reply = begin(objects, "tcw/kept", {"putUrl": {"contentType": "a/b", "contentLength": len(data)}})
    assert put(reply["uploadMethod"]["putUrl"], data).status_code == 200
    objects.finishUpload(
        "tcw/kept", {"projectId": PROJECT, "uploadId": reply["uploadId"], "hashes": digests(data)}
    )
    url = objects.startDownload("tcw/kept", {"acceptDownloadMethods": {"simple": True}})["url"]
    first.stop()
    second = make_local_queue(db=str(tmp_path / "queue.sqlite3"), port=int(url.split(":")[2].split("/")[0]))
    assert requests.get(url, timeout=30).content == data
    buf, _ = taskcluster.download.downloadToBuf(
        name="tcw/kept", objectService=taskcluster.Object(second.client_options())
    )
    assert bytes(buf) == data


@pytest.fixture
def rss_sampler() -> Iterator[Callable[[], int]]:
    """Peak resident set size (bytes) of this process while the test body runs, sampled every 5 ms."""
    page = os.sysconf("SC_PAGE_SIZE")
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            with open("/proc/self/statm") as statm:
                peak[0] = max(peak[0], int(statm.read().split()[1]) * page)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    yield lambda: peak[0]
    stop.set()
    thread.join()


@pytest.mark.slow
def test_large_upload_streams_to_disk(
    objects: Any, local_queue: Any, tmp_path: Path, rss_sampler: Callable[[], int]
) -> None:
    size = 50 * 1024 * 1024
    source = tmp_path / "big.bin"
    with source.open("wb") as file:
        for _ in range(size // (1 << 20)):
            file.write(os.urandom(1 << 20))
    with open("/proc/self/statm") as statm:
        before = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    with source.open("rb") as file:
        taskcluster.upload.uploadFromFile(
            projectId=PROJECT,
            name="tcw/big",
            contentType="application/octet-stream",
            contentLength=size,
            expires=from_now(hours=1),
            objectService=objects,
            file=file,
        )
    target = tmp_path / "back.bin"
    with target.open("wb") as file:
        taskcluster.download.downloadToFile(file=file, name="tcw/big", objectService=objects)
    growth = rss_sampler() - before
    print(f"peak RSS growth for a 50 MB upload and download: {growth / 1e6:.1f} MB")
    assert target.stat().st_size == size
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert growth < 20 * 1024 * 1024, f"RSS grew by {growth / 1e6:.1f} MB for a 50 MB upload and download"


def test_object_names_are_printable_ascii(objects: Any) -> None:
    with pytest.raises(taskcluster.TaskclusterRestFailure) as refused:
        begin(objects, "tcw/naïve", {})
    assert (refused.value.status_code, refused.value.body["code"]) == (400, "InvalidRequestArguments")
    assert begin(objects, "tcw/with space & ~symbols!", {})["uploadMethod"] == {}
