"""`tcw inspect-runs --format html`: one self-contained file that shows the same analysis as the JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tcw.inspect.analyse import analyse
from tcw.inspect.html import duration_chart, duration_unit, nice_top, rate_chart
from tests.inspect.test_inspect_queue import output_on_a_terminal
from tests.support.browser import Browser
from tests.support.cli import RunCli
from tests.support.inspect_pool import Seeded
from tests.support.statuses import R, StatusFactory, healthy_pool, runs_of

VOID_TAGS = frozenset({"meta", "link", "br", "img", "input", "hr", "area", "base", "col", "embed", "source"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""
    classes: set[str] = field(default_factory=set)


class Elements(HTMLParser):
    """Every element of a page with its attributes and the text inside it, in document order."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.all: list[Element] = []
        self._open: list[Element] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), classes=set((dict(attrs).get("class") or "").split()))
        self.all.append(element)
        if tag not in VOID_TAGS:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.all.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.all if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())]


def report(run_cli: RunCli, args: list[str], path: Path, env: dict[str, str] | None = None) -> str:
    result = run_cli([*args, "--format", "html", "-o", str(path)], env=env)
    assert result.stdout == "" and f"report written to {path}" in result.stderr
    return path.read_text(encoding="utf-8")


def assert_self_contained(page: str, elements: Elements, root_url: str | None) -> None:
    """Nothing to fetch: no script at all, every src/href inside the page or a data: URL, and the only
    http(s) URL in the text the deployment's, shown as words."""
    assert not elements.find("script") and not elements.find("iframe") and not elements.find("object")
    for element in elements.all:
        for name in ("src", "href", "srcset", "action", "data"):
            value = element.attrs.get(name)
            assert value is None or value.startswith(("#", "data:")), (element.tag, name, value)
        assert not [name for name in element.attrs if name.startswith("on")], element
    assert "@import" not in page and "url(" not in page
    assert set(re.findall(r"https?://[^\s<\"']*", page)) <= ({root_url} if root_url else set())
    policy = elements.find("meta", **{"http-equiv": "Content-Security-Policy"})
    assert policy and "default-src 'none'" in (policy[0].attrs["content"] or "")


def test_the_report_shows_what_the_json_says(run_cli: RunCli, mixed_pool: Seeded, tmp_path: Path) -> None:
    args = mixed_pool.cli("--task-group", mixed_pool.task_group_id)
    document = json.loads(run_cli([*args, "--format", "json"], env=mixed_pool.env()).stdout)
    page = report(run_cli, args, tmp_path / "report.html", env=mixed_pool.env())
    elements = Elements(page)
    assert_self_contained(page, elements, mixed_pool.queue.root_url)
    assert elements.find("meta", name="viewport")

    rows = {row.attrs["data-worker"]: row for row in elements.find("tr") if "data-worker" in row.attrs}
    assert list(rows) == [f"{w['workerGroup']}/{w['workerId']}" for w in document["workers"]]  # same order
    for worker in document["workers"]:
        row = rows[f"{worker['workerGroup']}/{worker['workerId']}"]
        for attribute, key in (
            ("bad-rate", "badRate"),
            ("bad-rate-low", "badRateLow"),
            ("bad-rate-high", "badRateHigh"),
        ):
            assert float(row.attrs[f"data-{attribute}"] or "nan") == worker[key]
        assert int(row.attrs["data-runs"] or 0) == worker["runs"]
        assert f"{100 * worker['badRate']:.0f}%" in row.text.split()
        assert ("flagged" in row.classes) == worker["flagged"]

    flagged = {e.attrs["data-worker"]: e for e in elements.all if "flagged-worker" in e.classes}
    assert set(flagged) == {"dc1/bad", "dc2/flaky"}
    for worker in document["workers"]:
        for flag in worker["flags"]:
            entry = flagged[f"{worker['workerGroup']}/{worker['workerId']}"]
            assert " ".join(flag["reason"].split()) in " ".join(entry.text.split())
    bad = [e for e in elements.all if e.tag == "g" and "flagged" in e.classes and "dc1/bad" in e.text]
    assert len(bad) == 2  # its dot in the rate chart and its box in the duration chart, each marked
    charts = elements.find("svg")
    assert len(charts) == 2 and all(
        c.attrs.get("role") == "img" and c.attrs.get("aria-labelledby") for c in charts
    )
    pool_rate = f"{100 * document['pools'][0]['badRate']:.0f}%"
    assert f"the vertical line is the pool's rate, {pool_rate}" in elements.find("desc")[0].text


HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_GROUP = '"><svg onload=alert(2)>'


def test_hostile_worker_names_are_escaped(run_cli: RunCli, tmp_path: Path) -> None:
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(12, R("dc1/evil", "failed"))
    for status in statuses:
        for run in status["runs"]:
            if run["workerId"] == "evil":
                run["workerId"], run["workerGroup"] = HOSTILE_ID, HOSTILE_GROUP
    saved = tmp_path / "runs.json"
    saved.write_text(json.dumps({"version": 1, "rootUrl": None, "statuses": statuses, "workers": []}))
    page = report(run_cli, ["tcw", "inspect-runs", "--from-file", str(saved)], tmp_path / "report.html")
    elements = Elements(page)
    assert_self_contained(page, elements, None)
    assert HOSTILE_ID not in page and HOSTILE_GROUP not in page and "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert [e.attrs["data-worker"] for e in elements.all if "flagged-worker" in e.classes] == [
        f"{HOSTILE_GROUP}/{HOSTILE_ID}"  # the name survives, as text
    ]


def test_hostile_names_in_the_text_table_are_printed_as_they_are(run_cli: RunCli, tmp_path: Path) -> None:
    # Rich reads [markup] in plain strings: "[/]" in a name crashed the table with a MarkupError.
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(12, R("dc1/evil", "failed"))
    for status in statuses:
        status["taskQueueId"] = "prov/[/]x"
        status["taskId"] = status["taskId"][:-3] + "[/]"
        for run in status["runs"]:
            run["workerId"] = "[bold]" + run["workerId"]
    saved = tmp_path / "runs.json"
    saved.write_text(
        json.dumps({"version": 1, "rootUrl": "https://tc.example.com", "statuses": statuses, "workers": []})
    )
    table = run_cli(["tcw", "inspect-runs", "--from-file", str(saved)]).stdout
    assert "dc1/[bold]evil (prov/[/]x) is flagged:" in table and "pool prov/[/]x: 6 workers" in table
    drill = run_cli(["tcw", "inspect-runs", "--from-file", str(saved), "--worker", "dc1/[bold]evil"]).stdout
    evil = [status["taskId"] for status in statuses if status["runs"][0]["workerId"] == "[bold]evil"]
    assert "dc1/[bold]evil in prov/[/]x" in drill and all(task_id in drill for task_id in evil)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    factory = StatusFactory()
    statuses = healthy_pool(factory) + factory.many(12, R("dc1/bad", "failed"))
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"version": 1, "rootUrl": None, "statuses": statuses, "workers": []}))
    return path


def test_where_the_html_goes(run_cli: RunCli, saved: Path, tmp_path: Path) -> None:
    base = ["tcw", "inspect-runs", "--from-file", str(saved)]
    piped = run_cli([*base, "--format", "html"])
    assert piped.stdout.startswith("<!DOCTYPE html>") and piped.stdout.rstrip().endswith("</html>")
    terminal = output_on_a_terminal([*base[1:], "--format", "html"], {}, exit_code=2)
    assert "Error: --format html writes a file: give -o FILE" in terminal and "<html" not in terminal
    drill = run_cli(
        [*base, "--format", "html", "--worker", "dc1/bad", "-o", str(tmp_path / "r.html")], exit_code=2
    )
    assert "--format html reports whole pools" in drill.stderr and not (tmp_path / "r.html").exists()
    nowhere = run_cli([*base, "--format", "html", "-o", str(tmp_path / "no" / "r.html")], exit_code=2)
    assert "no directory" in nowhere.stderr
    as_json = run_cli([*base, "--format", "json", "-o", str(tmp_path / "r.json")])
    assert as_json.stdout == "" and json.loads((tmp_path / "r.json").read_text())["flagged"] == 1
    run_cli([*base, "-o", str(tmp_path / "r.txt")])
    assert "dc1/bad (prov/pool) is flagged:" in (tmp_path / "r.txt").read_text()


def test_the_report_in_a_browser_offline(
    run_cli: RunCli, mixed_pool: Seeded, tmp_path: Path, browser: Browser
) -> None:
    path = tmp_path / "report.html"
    report(run_cli, mixed_pool.cli("--task-group", mixed_pool.task_group_id), path, env=mixed_pool.env())
    assert browser.open(path.as_uri()) == []
    driver: Any = browser.driver
    row = driver.find_element("css selector", 'tr.flagged[data-worker="dc1/bad"]')
    assert "bad-rate" in row.text and "!" in row.text
    row.find_element("css selector", "a").click()  # the row links to the reasons
    assert driver.execute_script("return location.hash") == "#flagged-1"
    reasons = driver.find_element("css selector", '.flagged-worker[data-worker="dc1/bad"]').text
    assert "14 of 20 runs bad (70%" in reasons
    marks = driver.find_elements("css selector", "svg g.row.flagged")
    assert len(marks) == 4 and all(mark.is_displayed() for mark in marks)  # two workers, two charts
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    driver.set_window_size(
        400, 800
    )  # a phone: the page scrolls down, not sideways (the table scrolls itself)
    assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    driver.execute_script("window.scrollTo(0, 0)")
    browser.screenshot("inspect-report")


def test_chart_geometry_puts_rates_and_the_pool_line_on_one_scale() -> None:
    assert [nice_top(v) for v in (0.003, 0.21, 0.7, 3.0, 61)] == [0.005, 0.25, 1.0, 5.0, 100.0]
    assert [duration_unit(v) for v in (0.5, 61, 4000, 90000)] == [
        (0.001, "ms"),
        (1.0, "s"),
        (60.0, "m"),
        (3600.0, "h"),
    ]
    factory = StatusFactory()
    analysis = analyse(
        runs_of(healthy_pool(factory) + factory.many(12, R("dc1/bad", "failed", duration=400)))
    )
    pool, workers = analysis.pools[0], list(analysis.workers)
    rates = rate_chart(pool, workers)
    frame = rates.frame
    assert [tick.label for tick in frame.ticks] == ["0%", "20%", "40%", "60%", "80%", "100%"]
    bad = rates.marks[0]
    assert bad.row.flagged and bad.x == bad.high == frame.plot_right  # 12 of 12: at 100 %, whisker to it
    assert frame.plot_left < bad.low < bad.x
    width = frame.plot_right - frame.plot_left
    assert rates.pool_x == pytest.approx(frame.plot_left + width * (pool.bad_rate or 0), abs=0.1)
    durations = duration_chart(pool, workers)
    assert [tick.label for tick in durations.frame.ticks][-1] == "500s"
    assert durations.marks[0].median == pytest.approx(frame.plot_left + width * 400 / 500, abs=0.1)
    assert "Flagged: dc1/bad." in rates.description and "Flagged: dc1/bad." in durations.description
