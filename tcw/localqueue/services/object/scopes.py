"""The object service's scope expressions by method name, as its API reference states them."""

from __future__ import annotations

from tcw.localqueue.auth.scopes import Expression
from tcw.localqueue.services import meta

_UPLOAD = "object:upload:<projectId>:<name>"
_DOWNLOAD = "object:download:<name>"

SCOPES: dict[str, Expression | None] = {
    **meta.SCOPES,
    "createUpload": _UPLOAD,
    "finishUpload": _UPLOAD,
    "startDownload": _DOWNLOAD,
    "object": _DOWNLOAD,
    "download": _DOWNLOAD,
}
