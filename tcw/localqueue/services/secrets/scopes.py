"""The secrets service's scope expressions by method name, as its API reference states them."""

from __future__ import annotations

from tcw.localqueue.auth.scopes import Expression
from tcw.localqueue.services import meta

_SET = "secrets:set:<name>"

SCOPES: dict[str, Expression | None] = {
    **meta.SCOPES,
    "set": _SET,
    "remove": _SET,
    "get": "secrets:get:<name>",
    "list": "secrets:list-secrets",
}
