"""The web view over HTTP, as a browser without credentials sees it: the Taskcluster UI's paths answer,
task fields are escaped, and only what the anonymous role may read is shown (the rest is a 403 page)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import slugid
from aiohttp import web

from tcw.localqueue.auth.clients import PUBLIC_READ_SCOPES
from tcw.localqueue.ui.pages import Pages
from tcw.localqueue.ui.render import web_url
from tests.localqueue.ui.conftest import HOSTILE, LOG_TEXT, SECRET, Site
from tests.support.cli import RunCli, env_for

WORKERS = "/provisioners/ui-test/worker-types/web"


def main_text(response: requests.Response) -> str:
    assert response.headers["Content-Type"].startswith("text/html"), response.text
    return response.text


@contextmanager
def anonymous_role(site: Site, *scopes: str) -> Iterator[None]:
    """The deployment's anonymous role holds only ``scopes`` for the block."""
    site.queue.set_anonymous_role(scopes)
    try:
        yield
    finally:
        site.queue.set_anonymous_role(PUBLIC_READ_SCOPES)


def test_the_taskcluster_ui_paths_answer_with_their_pages(site: Site) -> None:
    expected = {
        "/": ["Recent task groups", site.group_id, "queue:get-task:*"],
        f"/tasks/groups/{site.group_id}": ["builds the thing", "tests the thing", "runs for a while"],
        f"/tasks/{site.completed}": [
            "builds the thing",
            "completed",
            f"{WORKERS}/workers/ui/w1",
            "live_backing.log",
        ],
        f"/tasks/{site.completed}/runs/0": ["step 1 done", "all done", f"{WORKERS}/workers/ui/w1"],
        f"/tasks/{site.completed}/runs/0/logs/public/logs/live_backing.log": ["step 1 done"],
        "/provisioners": ['href="/provisioners/ui-test"'],
        "/provisioners/ui-test": [f'href="{WORKERS}"'],
        WORKERS: ["ui/w1", "ui/w2", "ui/w3", "quarantined", "running", "Pending tasks: <strong>0</strong>"],
        f"{WORKERS}/workers/ui/w1": [
            f"/tasks/{site.completed}/runs/0",
            f"/tasks/{site.failed}/runs/0",
            "failed",
        ],
        f"{WORKERS}/workers/ui/w2": ["quarantined", "too many failures"],
    }
    for path, needles in expected.items():
        response = site.get(path)
        assert response.status_code == 200, (path, response.text)
        text = main_text(response)
        assert "<main" in text and 'name="viewport"' in text
        missing = [needle for needle in needles if needle not in text]
        assert missing == [], (path, missing)


def test_finding_a_task_or_a_group_by_id_leads_to_its_page(site: Site) -> None:
    found = site.get(f"/tasks?taskId={site.completed}", allow_redirects=False)
    assert (found.status_code, found.headers["Location"]) == (303, f"/tasks/{site.completed}")
    group = site.get(f"/tasks/groups?taskGroupId={site.group_id}")
    assert group.status_code == 200 and "builds the thing" in group.text
    form = main_text(site.get("/tasks"))
    assert '<label for="taskId">' in form and 'id="taskId"' in form
    group_form = main_text(site.get("/tasks/groups"))
    assert "<h1>Find a task group</h1>" in group_form and '<label for="taskGroupId">' in group_form
    unknown = site.get(f"/tasks/{slugid.nice()}")
    assert unknown.status_code == 404 and "not found" in unknown.text
    malformed = site.get("/tasks/not-a-task-id")
    assert malformed.status_code == 400 and "InvalidRequestArguments" in malformed.text


def test_a_group_is_filtered_by_state_and_name(site: Site) -> None:
    failed = main_text(site.get(f"/tasks/groups/{site.group_id}?state=failed"))
    assert "tests the thing" in failed and "builds the thing" not in failed
    assert '<option value="failed" selected>' in failed and "1 of 4 tasks in state failed" in failed
    named = main_text(site.get(f"/tasks/groups/{site.group_id}?q=BUILDS"))
    assert "builds the thing" in named and "tests the thing" not in named
    assert 'name="q" value="BUILDS"' in named
    counts = re.findall(
        r"state-(\w+)\">\w+</span> <strong>(\d+)</strong>",
        main_text(site.get(f"/tasks/groups/{site.group_id}")),
    )
    assert dict(counts) == {
        "unscheduled": "0",
        "pending": "0",
        "running": "1",
        "completed": "2",
        "failed": "1",
        "exception": "0",
    }


def test_a_running_run_streams_its_live_log_in_the_browser_never_through_the_server(site: Site) -> None:
    text = main_text(site.get(f"/tasks/{site.running}/runs/0"))
    live = f'data-src="/api/queue/v1/task/{site.running}/runs/0/artifacts/public/logs/live.log"'
    assert live in text and '<script src="/_tcw/ui/static/live.js" defer>' in text
    assert "127.0.0.1:9" not in text  # the reference's target: the browser follows the queue's redirect
    assert '<meta http-equiv="refresh"' in text  # inside <noscript>: without scripts the page reloads
    script = site.get("/_tcw/ui/static/live.js")
    assert script.status_code == 200 and "createTextNode" in script.text and "innerHTML" not in script.text


def test_markup_in_task_fields_payload_and_log_is_shown_as_text(site: Site) -> None:
    """A task author controls the name, description, payload and log: none of it may become markup."""
    pages = [
        f"/tasks/{site.hostile}",
        f"/tasks/{site.hostile}/runs/0",
        f"/tasks/groups/{site.group_id}",
        f"{WORKERS}/workers/ui/w2",
        f"/tasks/{site.completed}/runs/0",
    ]
    for path in pages:
        text = main_text(site.get(path))
        assert HOSTILE not in text and "<script>alert" not in text and "<img" not in text, path
        assert "</pre><script>" not in text, path
        scripts = re.findall(r"<script[^>]*>", text)
        assert set(scripts) <= {'<script src="/_tcw/ui/static/live.js" defer>'}, (path, scripts)
    task_page = main_text(site.get(f"/tasks/{site.hostile}"))
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in task_page  # shown, as text
    assert "&lt;/pre&gt;&lt;script&gt;alert(&#39;payload&#39;)" in task_page  # the payload, in the definition
    log_page = main_text(site.get(f"/tasks/{site.completed}/runs/0"))
    assert "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;" in log_page and LOG_TEXT not in log_page
    assert (
        web_url("javascript:alert(1)") is None and web_url("https://example.com/x") == "https://example.com/x"
    )
    policy = site.get(f"/tasks/{site.hostile}").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_private_artifacts_are_listed_but_neither_linked_nor_read(site: Site) -> None:
    run_page = main_text(site.get(f"/tasks/{site.completed}/runs/0"))
    assert 'private/secret.txt <span class="note">(needs credentials)</span>' in run_page
    assert "artifacts/private/secret.txt" not in run_page
    public = f'href="/api/queue/v1/task/{site.completed}/runs/0/artifacts/public/logs/live_backing.log"'
    assert public in run_page
    for path in (
        f"/tasks/{site.completed}",
        f"/tasks/{site.completed}/runs/0",
        f"/tasks/{site.completed}/runs/0/logs/private/secret.txt",
    ):
        text = site.get(path).text
        assert SECRET not in text and "/_tcw/blobs/" not in text and "signature=" not in text, path
    log_page = site.get(f"/tasks/{site.completed}/runs/0/logs/private/secret.txt")
    assert log_page.status_code == 200 and "The anonymous role may not read this log." in log_page.text
    handed_out = site.get(f"/tasks/{site.completed}/runs/0/private/secret.txt", allow_redirects=False)
    assert handed_out.status_code == 403 and "Location" not in handed_out.headers
    assert SECRET not in handed_out.text
    followed = site.get(f"/tasks/{site.completed}/runs/0/public/logs/live_backing.log")
    assert followed.status_code == 200 and followed.text == LOG_TEXT  # a public one leads to its bytes


def test_what_the_anonymous_role_may_not_read_is_a_403_page_without_the_data(site: Site) -> None:
    with anonymous_role(site):
        for path in (
            f"/tasks/{site.completed}",
            f"/tasks/{site.completed}/runs/0",
            f"/tasks/groups/{site.group_id}",
            "/provisioners",
            WORKERS,
            f"{WORKERS}/workers/ui/w1",
        ):
            response = site.get(path)
            assert response.status_code == 403, path
            text = main_text(response)
            assert "may not read" in text and "--public-read" in text, path
            assert "builds the thing" not in text and "step 1 done" not in text and "ui/w1</a>" not in text, (
                path
            )
        landing = main_text(site.get("/"))
        assert site.group_id not in landing and "may not list task groups" in landing
    with anonymous_role(site, "queue:get-task:*", "queue:status:*"):
        task_page = main_text(site.get(f"/tasks/{site.completed}"))
        assert "builds the thing" in task_page and "Artifacts: Client ID anonymous does not have" in task_page
        run_page = main_text(site.get(f"/tasks/{site.completed}/runs/0"))
        assert "may not read this log" in run_page and "step 1 done" not in run_page


def test_links_inspect_runs_prints_open_on_the_local_deployment(site: Site, run_cli: RunCli) -> None:
    args = ["tcw", "inspect-runs", "--task-group", site.group_id, "--worker", "ui/w1", "--format", "json"]
    runs = json.loads(run_cli(args, env=env_for(site.queue)).stdout)["runs"]
    assert {(r["taskId"], r["runId"]) for r in runs} == {(site.completed, 0), (site.failed, 0)}
    for run in runs:
        # the link a real deployment gets, <rootUrl>/tasks/<taskId>/runs/<runId>, and it opens here
        assert run["link"] == f"{site.url}/tasks/{run['taskId']}/runs/{run['runId']}"
        page = requests.get(run["link"], timeout=30)
        assert page.status_code == 200 and f"run {run['runId']}" in page.text, run["link"]


def test_the_view_leaves_the_api_as_it_was(site: Site) -> None:
    routes = Pages(site.queue.state, ()).routes()
    served = [route.path if isinstance(route, web.RouteDef) else route.prefix for route in routes]  # type: ignore[attr-defined]
    assert len(served) == 13 and not [
        p for p in served if p.startswith(("/api/", "/_tcw/blobs/", "/schemas/"))
    ]
    api = site.get(f"/api/queue/v1/task/{site.completed}")
    assert api.status_code == 403 or api.json()["metadata"]["name"] == "builds the thing"
    unknown = site.get("/api/queue/v1/no-such-method")
    assert unknown.status_code == 404 and unknown.json()["code"] == "ResourceNotFound"
    posted = requests.post(f"{site.url}/tasks/{site.completed}", timeout=30)
    assert posted.status_code == 404 and posted.json()["code"] == "ResourceNotFound"
    icon = site.get("/_tcw/ui/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["Content-Type"] == "image/svg+xml"
    assert site.get("/_tcw/ui/static/../pages.py").status_code in (403, 404)
