"""The web view's pages, at the paths of Taskcluster's own UI so that links made for a deployment (such as
``inspect-runs``' ``<rootUrl>/tasks/<taskId>/runs/<runId>``) open here too.

Every page reads through ``AnonymousReader`` (the API's own methods and scope checks, as a caller without
credentials); a read the anonymous role may not make is the page's 403, one that finds nothing its 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from tcw.localqueue.core.errors import ApiError, InsufficientScopes, ResourceNotFound
from tcw.localqueue.services.api import Reply, Service
from tcw.localqueue.services.state import QueueState
from tcw.localqueue.storage.task_groups import recent_group_ids
from tcw.localqueue.ui.logs import stored_log
from tcw.localqueue.ui.reads import AnonymousReader
from tcw.localqueue.ui.render import html, path, segment

STATIC_PREFIX = "/_tcw/ui/static"
STATIC_DIR = Path(__file__).parent / "static"
LOG_NAME = "public/logs/live_backing.log"
LIVE_LOG_NAME = "public/logs/live.log"
TASK_STATES = ("unscheduled", "pending", "running", "completed", "failed", "exception")
GROUP_PAGE = 1000
MAX_GROUP_PAGES = 10  # a page lists at most 10 000 tasks of a group
RECENT_GROUPS = 20

Page = Callable[[web.Request], Awaitable[web.StreamResponse]]


def artifact_api_path(task_id: str, run_id: int | str, name: str) -> str:
    """The queue API's URL of an artifact (``getArtifact``): a browser without credentials opening it gets
    what the anonymous role allows, and never a URL signed for anyone else."""
    return f"/api/queue/v1/task/{segment(task_id)}/runs/{segment(run_id)}/artifacts/{path(name)}"


class Pages:
    def __init__(self, state: QueueState, services: Iterable[Service]) -> None:
        self.state = state
        self.reader = AnonymousReader(state, services)

    def routes(self) -> list[web.AbstractRouteDef]:
        """Groups before tasks, a run's logs before its other artifacts: the first route that fits wins."""
        pages: list[tuple[str, Page]] = [
            ("/", self.landing),
            ("/tasks", self.finder("taskId", "Task ID", "/tasks")),
            ("/tasks/groups", self.finder("taskGroupId", "Task group ID", "/tasks/groups")),
            ("/tasks/groups/{taskGroupId}", self.group),
            ("/tasks/{taskId}", self.task),
            ("/tasks/{taskId}/runs/{runId}", self.run),
            ("/tasks/{taskId}/runs/{runId}/logs/{name:.+}", self.log),
            ("/tasks/{taskId}/runs/{runId}/{name:.+}", self.artifact),
            ("/provisioners", self.provisioners),
            ("/provisioners/{provisionerId}", self.provisioner),
            ("/provisioners/{provisionerId}/worker-types/{workerType}", self.worker_type),
            (
                "/provisioners/{provisionerId}/worker-types/{workerType}/workers/{workerGroup}/{workerId}",
                self.worker,
            ),
        ]
        return [web.get(route, _answering_errors(page)) for route, page in pages] + [
            web.static(STATIC_PREFIX, STATIC_DIR, show_index=False, follow_symlinks=False)
        ]

    # -- pages

    async def landing(self, request: web.Request) -> web.StreamResponse:
        groups = []
        for group_id in recent_group_ids(self.state.db, RECENT_GROUPS):
            found = await self.reader.read_or_error("queue.getTaskGroup", {"taskGroupId": group_id})
            if not isinstance(found, ApiError):
                groups.append(found)
        return html(
            "landing.html",
            groups=groups,
            scopes=self.reader.caller.scopes,
            may_list_groups=self.reader.may("queue.listTaskGroup", {"taskGroupId": "x"}),
        )

    @staticmethod
    def finder(field: str, label: str, base: str) -> Page:
        """``base?field=ID`` leads to ``base/ID``; without an ID, a form asking for one."""

        async def find(request: web.Request) -> web.StreamResponse:
            wanted = request.query.get(field, "").strip()
            if wanted:
                raise web.HTTPSeeOther(f"{base}/{segment(wanted)}")
            title = f"Find a {label.removesuffix(' ID').lower()}"
            return html("find.html", title=title, field=field, label=label, action=base)

        return find

    async def group(self, request: web.Request) -> web.StreamResponse:
        group_id = request.match_info["taskGroupId"]
        tasks, complete = await self._group_tasks(group_id)
        counts = Counter(entry["status"]["state"] for entry in tasks)
        state = request.query.get("state", "")
        text = request.query.get("q", "").strip()
        shown = [
            entry
            for entry in tasks
            if (not state or entry["status"]["state"] == state)
            and (not text or text.lower() in _task_name(entry["task"]).lower())
        ]
        return html(
            "group.html",
            group_id=group_id,
            tasks=shown,
            total=len(tasks),
            complete=complete,
            counts=counts,
            states=TASK_STATES,
            chosen=state,
            text=text,
        )

    async def task(self, request: web.Request) -> web.StreamResponse:
        task_id = request.match_info["taskId"]
        definition = await self.reader.read("queue.task", {"taskId": task_id})
        status = (await self.reader.read("queue.status", {"taskId": task_id}))["status"]
        runs = status["runs"]
        artifacts = await self._artifacts(task_id, runs[-1]["runId"]) if runs else None
        return html(
            "task.html",
            task_id=task_id,
            task=definition,
            status=status,
            artifacts=artifacts,
            run=runs[-1] if runs else None,
        )

    async def run(self, request: web.Request) -> web.StreamResponse:
        task_id, run = await self._run(request)
        definition = await self.reader.read("queue.task", {"taskId": task_id})
        log = await self._log(task_id, run, LOG_NAME)
        artifacts = await self._artifacts(task_id, run["runId"])
        return html("run.html", task_id=task_id, task=definition, run=run, artifacts=artifacts, log=log)

    async def log(self, request: web.Request) -> web.StreamResponse:
        task_id, run = await self._run(request)
        name = request.match_info["name"]
        log = await self._log(task_id, run, name)
        return html("log.html", task_id=task_id, run=run, log=log)

    async def artifact(self, request: web.Request) -> web.StreamResponse:
        """As Taskcluster's UI: an artifact's page path leads to the artifact, if the anonymous role may."""
        task_id, run_id, name = (request.match_info[key] for key in ("taskId", "runId", "name"))
        params = {"taskId": task_id, "runId": run_id, "name": name}
        answer = await self.reader.read("queue.getArtifact", params)
        if isinstance(answer, Reply) and "Location" in answer.headers:
            raise web.HTTPSeeOther(answer.headers["Location"])
        raise ResourceNotFound(f"Artifact {name} is an error artifact: {answer.body['message']}")

    async def provisioners(self, request: web.Request) -> web.StreamResponse:
        found = await self.reader.read("queue.listProvisioners", query={"limit": "1000"})
        return html("provisioners.html", provisioners=found["provisioners"])

    async def provisioner(self, request: web.Request) -> web.StreamResponse:
        provisioner_id = request.match_info["provisionerId"]
        found = await self.reader.read(
            "queue.listWorkerTypes", {"provisionerId": provisioner_id}, {"limit": "1000"}
        )
        worker_types = []
        for worker_type in found["workerTypes"]:
            pending = await self._pending(f"{provisioner_id}/{worker_type['workerType']}")
            worker_types.append({**worker_type, "pending": pending})
        return html("provisioner.html", provisioner_id=provisioner_id, worker_types=worker_types)

    async def worker_type(self, request: web.Request) -> web.StreamResponse:
        provisioner_id, worker_type = request.match_info["provisionerId"], request.match_info["workerType"]
        params = {"provisionerId": provisioner_id, "workerType": worker_type}
        found = await self.reader.read("queue.listWorkers", params, {"limit": "1000"})
        workers = found["workers"]
        latest = await self._states([w["latestTask"]["taskId"] for w in workers if "latestTask" in w])
        for worker in workers:
            worker["state"] = _worker_state(worker, latest)
        return html(
            "worker_type.html",
            provisioner_id=provisioner_id,
            worker_type=worker_type,
            workers=workers,
            pending=await self._pending(f"{provisioner_id}/{worker_type}"),
        )

    async def worker(self, request: web.Request) -> web.StreamResponse:
        keys = ("provisionerId", "workerType", "workerGroup", "workerId")
        params = {key: request.match_info[key] for key in keys}
        worker = await self.reader.read("queue.getWorker", params)
        recent = list(reversed(worker["recentTasks"]))
        states = await self._states([entry["taskId"] for entry in recent])
        for entry in recent:
            runs = states.get(entry["taskId"], {}).get("runs", [])
            entry["run"] = next((run for run in runs if run["runId"] == entry["runId"]), None)
        latest = {"latestTask": recent[0]} if recent else {}
        worker["state"] = _worker_state({**worker, **latest}, states)
        return html("worker.html", worker=worker, recent=recent)

    # -- reads several pages share

    async def _run(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        task_id, run_text = request.match_info["taskId"], request.match_info["runId"]
        status = (await self.reader.read("queue.status", {"taskId": task_id}))["status"]
        run = next((run for run in status["runs"] if str(run["runId"]) == run_text), None)
        if run is None:
            raise ResourceNotFound(f"Task {task_id} has no run {run_text}")
        return task_id, run

    async def _group_tasks(self, group_id: str) -> tuple[list[dict[str, Any]], bool]:
        """The group's tasks (up to MAX_GROUP_PAGES pages), and whether that is all of them."""
        tasks: list[dict[str, Any]] = []
        query = {"limit": str(GROUP_PAGE)}
        for _ in range(MAX_GROUP_PAGES):
            found = await self.reader.read("queue.listTaskGroup", {"taskGroupId": group_id}, query)
            tasks.extend(found["tasks"])
            if "continuationToken" not in found:
                return tasks, True
            query = {**query, "continuationToken": found["continuationToken"]}
        return tasks, False

    async def _artifacts(self, task_id: str, run_id: int) -> list[dict[str, Any]] | ApiError:
        """The run's artifacts, each with ``readable`` (the anonymous role may get it, so it is linked)."""
        params = {"taskId": task_id, "runId": str(run_id)}
        found = await self.reader.read_or_error("queue.listArtifacts", params, query={"limit": "1000"})
        if isinstance(found, ApiError):
            return found
        artifacts: list[dict[str, Any]] = found["artifacts"]
        for artifact in artifacts:
            artifact["readable"] = self.reader.may("queue.getArtifact", {"names": [artifact["name"]]})
            artifact["href"] = artifact_api_path(task_id, run_id, artifact["name"])
        return artifacts

    async def _log(self, task_id: str, run: dict[str, Any], name: str) -> dict[str, Any]:
        """What a page shows of a run's log: its stored text, the live log to stream while the run lasts,
        or why neither (the anonymous role may not read it, there is none yet)."""
        run_id = str(run["runId"])
        running = run["state"] in ("pending", "running")
        shown = LIVE_LOG_NAME if running and name == LOG_NAME else name
        href = artifact_api_path(task_id, run_id, shown)
        view: dict[str, Any] = {"name": shown, "href": href, "live": False, "text": None, "problem": None}
        answer = await self.reader.read_or_error(
            "queue.getArtifact", {"taskId": task_id, "runId": run_id, "name": shown}
        )
        if isinstance(answer, InsufficientScopes):
            view["problem"] = "The anonymous role may not read this log."
        elif isinstance(answer, ApiError):
            view["problem"] = "The log is not there yet." if running else f"No log: {answer.message}"
        elif isinstance(answer, Reply) and "Location" in answer.headers:
            stored = await stored_log(self.state, answer.headers["Location"])
            view["text"] = stored
            view["live"] = stored is None and running
            if stored is None and not running:
                view["problem"] = "This log is kept elsewhere: open it with the link."
        else:
            view["problem"] = "This log is an error artifact."
        return view

    async def _pending(self, task_queue_id: str) -> int | None:
        found = await self.reader.read_or_error("queue.pendingTasks", {"taskQueueId": task_queue_id})
        return None if isinstance(found, ApiError) else int(found["pendingTasks"])

    async def _states(self, task_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Statuses by taskId, of those the anonymous role may read (others are left out)."""
        readable = [
            task_id
            for task_id in dict.fromkeys(task_ids)
            if self.reader.may("queue.status", {"taskId": task_id})
        ]
        if not readable:
            return {}
        found = await self.reader.read_or_error("queue.statuses", body={"taskIds": readable})
        if isinstance(found, ApiError):
            return {}
        return {entry["taskId"]: entry["status"] for entry in found["statuses"]}


def _task_name(definition: dict[str, Any]) -> str:
    return str(definition.get("metadata", {}).get("name", ""))


def _worker_state(worker: dict[str, Any], statuses: dict[str, dict[str, Any]]) -> str:
    """quarantined, running (its latest task's run is still on it) or idle."""
    if "quarantineUntil" in worker:
        return "quarantined"
    latest = worker.get("latestTask")
    runs = statuses.get(latest["taskId"], {}).get("runs", []) if latest else []
    run = next((run for run in runs if run["runId"] == latest["runId"]), None) if latest else None
    return "running" if run is not None and run["state"] == "running" else "idle"


def _answering_errors(page: Page) -> Page:
    """A page whose read the API refuses answers the same status with a page saying why."""

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await page(request)
        except ApiError as error:
            return html("error.html", status_code=error.status, error=error, path=request.path)

    return answer
