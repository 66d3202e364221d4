"""One run's Taskcluster access for its task (the contract's ``TaskclusterAccess``): official clients and a
taskcluster-proxy signing with the run's credentials restricted to the task's scopes, and, where the worker
opted in, the claim's credentials in a file descriptor.

Everything here follows the claim: the proxy signs with ``claim.credentials()`` as it is at each request,
and after each reclaim (``Claim.on_renew``) the clients handed out and the credentials file get the new
credentials. ``close`` (when the run's executor has ended) refuses and stops the proxy and closes the file.
"""

from __future__ import annotations

import logging
import os
import weakref
from typing import TYPE_CHECKING, Any

from tcw import taskcluster_client
from tcw.engine.claim import Claim
from tcw.engine.credentials_fd import CredentialsFile
from tcw.engine.taskproxy.signing import task_authorized_scopes

if TYPE_CHECKING:
    from tcw.engine.taskproxy.server import TaskProxy

log = logging.getLogger(__name__)


class RunAccess:
    def __init__(
        self,
        claim: Claim,
        root_url: str,
        *,
        proxy_by_default: bool = False,
        credentials_fd: bool = False,
        task_uid: int | None = None,
    ) -> None:
        self.claim = claim
        self.root_url = root_url
        self.authorized_scopes = tuple(task_authorized_scopes(claim.task, claim.task_id, claim.run_id))
        self.proxy_by_default = proxy_by_default
        self._credentials_fd_allowed = credentials_fd
        # The task's processes may run as the task user: the proxy lets that user in beside the worker's.
        self._allowed_uids = frozenset({os.geteuid()} | ({task_uid} if task_uid is not None else set()))
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._proxy: TaskProxy | None = None
        self._file: CredentialsFile | None = None
        self._closed = False
        claim.on_renew(self._renewed)

    def _options(self) -> dict[str, Any]:
        return {
            "rootUrl": self.root_url,
            "credentials": dict(self.claim.credentials()),
            "authorizedScopes": list(self.authorized_scopes),
        }

    def client(self, service: str) -> Any:
        client = taskcluster_client.sync_client(service, self._options())
        self._clients.add(client)
        return client

    def aio_client(self, service: str, session: Any = None) -> Any:
        client = taskcluster_client.aio_client(service, self._options(), session)
        self._clients.add(client)
        return client

    async def proxy_url(self) -> str:
        if self._closed:
            raise RuntimeError("the run is over: no proxy for it")
        if self._proxy is None:
            from tcw.engine.taskproxy.server import TaskProxy  # the proxy's server: only for runs using it

            self._proxy = TaskProxy(
                root_url=self.root_url,
                credentials=self.claim.credentials,
                authorized_scopes=self.authorized_scopes,
                name=f"{self.claim.task_id}/{self.claim.run_id}",
                allowed_uids=self._allowed_uids,
            )
            await self._proxy.start()
            log.debug("task proxy at %s", self._proxy.url, extra=self.claim.log_fields)
        return self._proxy.url

    def credentials_fd(self) -> int | None:
        if not self._credentials_fd_allowed or self._closed:
            return None
        if self._file is None:
            self._file = CredentialsFile(self.claim.credentials())
        return self._file.child_fd

    def _renewed(self) -> None:
        credentials = self.claim.credentials()
        for client in list(self._clients):
            taskcluster_client.swap_credentials(client, credentials)
        if self._file is not None:
            self._file.write(credentials)

    async def close(self, why: str = "the run is over") -> None:
        """From now on the proxy refuses and stops listening; the credentials file is closed."""
        self._closed = True
        if self._proxy is not None:
            self._proxy.end(why)
            await self._proxy.close()
        if self._file is not None:
            self._file.close()
