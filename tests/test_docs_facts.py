"""Facts the code knows, checked where the docs repeat them, so that they cannot go stale.

The demo's steps (from `flowinvoke demo --help`), the demo emulator's workflows and keys,
the registered providers, the extras and dependency groups of pyproject.toml, and the
benchmark results the Performance page and its charts come from.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
import subprocess
import sys

import pytest

from flowinvoke.providers import available_providers
from flowinvoke.testing import DEMO_KEYS, demo_emulator
from tests.docs_examples import ROOT, blocks

METADATA = importlib.metadata.metadata("flowinvoke")  # built from pyproject.toml
NUMBERS = {"four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
# How the docs name each provider in prose.
PROSE_NAMES = {
    "gptbots": "GPTBots",
    "altabots": "AltaBots",
    "aitutor": "aitutor-api",
    "dify": "Dify",
    "coze": "Coze",
    "coze-studio": "Coze",
}


def _page(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


@functools.cache
def _demo_steps() -> list[str]:
    """The numbered steps of `flowinvoke demo --help`: what the demo really does."""
    command = [sys.executable, "-m", "flowinvoke.cli", "demo", "--help"]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return re.findall(r"^\s*\d+\. (.+)$", result.stdout, re.MULTILINE)


def _number_before(text: str, noun: str) -> int:
    found = re.search(rf"\b(\w+) {noun}\b", text)
    assert found is not None, f"no '<number> {noun}' in the text"
    return NUMBERS[found[1]]


def test_cli_page_lists_every_demo_step() -> None:
    steps = _demo_steps()
    section = _page("docs/cli.md").split("## Try it without an account")[1].split("\n## ")[0]
    listed = re.findall(r"^\d+\. ", section, re.MULTILINE)
    assert len(listed) == len(steps) == _number_before(section, "workflow runs")


def test_readme_demo_line_installs_what_every_step_needs() -> None:
    """The webhook step needs uvicorn, and the demo's closing hint is `emulator serve`."""
    readme = _page("README.md")
    assert any("webhook" in step for step in _demo_steps())
    line = next(line for line in readme.splitlines() if line.endswith("flowinvoke demo"))
    assert '".[cli,emulator]"' in line
    assert _number_before(readme, "real workflow runs") == len(_demo_steps())


def _demo_rows() -> set[tuple[str, str, str]]:
    emulator = demo_emulator()
    return {(wf, emulator.workflow(wf).provider, key) for wf, key in DEMO_KEYS.items()}


def test_try_without_a_key_lists_every_demo_workflow() -> None:
    page = _page("docs/try-without-a-key.md")
    rows = {
        (workflow, provider, key)
        for workflow, provider, key in re.findall(
            r"^\| `([^`]+)` \| (\w[\w-]*) \| `([^`]+)` \|", page, re.MULTILINE
        )
    }
    assert rows == _demo_rows()
    assert _number_before(page, "workflows ready") == len(DEMO_KEYS)


def test_cli_page_shows_the_served_workflows() -> None:
    banner = next(b for b in blocks(ROOT / "docs/cli.md") if "emulator serving on" in b.source)
    rows = set(re.findall(r"^  (\S+)\s+(\S+)\s+(demo-key-\S+)\s*$", banner.source, re.MULTILINE))
    assert rows == _demo_rows()


def _section(name: str, heading: str | None) -> str:
    """A page's text under a heading (or before the first one), up to the next heading."""
    text = _page(name)
    if heading is not None:
        text = text.split(f"\n## {heading}\n")[1]
    return text.split("\n## ")[0]


def _site_description() -> str:
    found = re.search(r"^site_description: >-\n((?:  .+\n)+)", _page("mkdocs.yml"), re.MULTILINE)
    assert found is not None
    return found[1]


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("README.md", _section("README.md", None)),
        ("docs/index.md", _section("docs/index.md", None)),
        ("docs/quickstart.md", _section("docs/quickstart.md", "Your first run")),
        ("docs/try-without-a-key.md", _section("docs/try-without-a-key.md", None)),
        ("pyproject.toml", METADATA["Summary"]),
        ("mkdocs.yml", _site_description()),
    ],
    ids=lambda value: value if value.endswith((".md", ".toml", ".yml")) else "",
)
def test_every_provider_is_named(where: str, text: str) -> None:
    named = set(re.findall(r"[\w-]+", text))
    missing = {PROSE_NAMES[name] for name in available_providers()} - named
    assert not missing, f"{where} leaves out {sorted(missing)}"


def test_cli_provider_flag_lists_every_provider() -> None:
    row = next(line for line in _page("docs/cli.md").splitlines() if "`--provider`" in line)
    assert set(re.findall(r"`([\w-]+)`", row)) - {"--provider", "-p"} == set(
        available_providers()
    ) | {"FLOWINVOKE_PROVIDER"}


def test_readme_names_every_extra() -> None:
    extras = METADATA.get_all("Provides-Extra") or []
    paragraph = next(p for p in _page("README.md").split("\n\n") if p.startswith("Extras:"))
    assert set(extras) <= set(re.findall(r"`(\w+)`", paragraph))


def test_readme_docs_install_without_group_names_the_docs_group() -> None:
    """The older-pip line installs exactly the `docs` group's packages."""
    found = re.search(r"^docs = \[(.*)\]$", _page("pyproject.toml"), re.MULTILINE)
    assert found is not None
    group = re.findall(r'"([^"]+)"', found[1])
    line = next(line for line in _page("README.md").splitlines() if "mkdocs-material" in line)
    assert re.findall(r'"([^"]+)"', line) == group


def test_performance_page_shows_the_committed_results() -> None:
    """The figures of benchmarks/results.json (which the charts are drawn from) are the
    ones the Performance page prints, and its date is the one the page gives them."""
    results = json.loads((ROOT / "benchmarks/results.json").read_text(encoding="utf-8"))
    page = _page("docs/performance.md")
    assert results["date"].split()[0] in page
    for benchmark in results["benchmarks"].values():
        for goal in benchmark["goals"]:
            assert goal["measured"] in page, f"{goal['name']}: {goal['measured']}"
