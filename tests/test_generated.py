"""completions/ and man/ are generated from the click app; a stale checked-in file fails here."""

from __future__ import annotations

from pathlib import Path

from tcw.cli.generate import render_all
from tests.support.paths import REPO_ROOT


def test_generated_files_are_current() -> None:
    stale = [
        str(path)
        for path, text in render_all().items()
        if not (REPO_ROOT / path).is_file() or (REPO_ROOT / path).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `make generated`; stale: {stale}"


def test_no_orphan_man_pages() -> None:
    expected = {path.name for path in render_all() if path.parent.name == "man"}
    present = {path.name for path in (REPO_ROOT / "man").glob("*.1")}
    assert present <= expected, f"man pages for commands that no longer exist: {present - expected}"


def test_every_command_has_a_man_page_naming_its_options() -> None:
    pages = {path.name: text for path, text in render_all().items() if path.parent.name == "man"}
    assert "tcw.1" in pages
    assert "tcw-queue-serve.1" in pages or "tcw-queue.1" in pages
    assert "\\-\\-config" in pages["tcw.1"]


def test_the_config_reference_names_every_setting_with_its_variable_and_meaning() -> None:
    from tcw.config import LEAVES

    files = render_all()
    reference, manual = files[Path("docs/config.md")], files[Path("man/tcw.1")]
    for leaf in LEAVES.values():
        assert leaf.help.strip(), f"{leaf.key} has no help text"
        row = next(line for line in reference.splitlines() if line.startswith(f"| `{leaf.key}` |"))
        assert f"`{leaf.env_name}`" in row and leaf.type_name in row
        assert f".B {leaf.key}" in manual and leaf.env_name in manual
