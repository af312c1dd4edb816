"""Every Python block in README.md and docs/clients.md runs as written against `make run`'s server.

Blocks are extracted from the files and run each in a fresh interpreter, with only the
port of `127.0.0.1:32010` / `localhost:32010` changed to the test server's. A block that
cannot run here (a Flywheel site, a cluster) is preceded by `<!-- not run: REASON -->`;
it must still compile. Any other block that fails, prints nothing, or makes ADBC warn
fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fw_flight
import pytest

from flight_server.config import AuthSettings, DatasetSettings, Settings, StaticTokenSettings
from flight_server.demo import GeneratedDataset
from tests.e2e.test_client_examples import SPARK_ENV
from tests.support import REPO, running_server, server_process

DOCS = (REPO / "README.md", REPO / "docs" / "clients.md")
ADDRESS = re.compile(r"\b(?:127\.0\.0\.1|localhost):32010\b")
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>[^>]+?) -->")
#: SQLAlchemy 2 for pandas.read_sql (the venv's 1.4 is for flightsql-dbapi): see the Makefile.
SQLALCHEMY2 = REPO / ".tools" / "sqlalchemy2"


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int
    code: str
    not_run: str | None  # the reason, for a marked block

    @property
    def name(self) -> str:
        return f"{self.doc.name}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """The ```python blocks of ``doc``, each with the not-run reason of the line before it."""
    found = []
    lines = doc.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip() != "```python":
            continue
        end = lines.index("```", number + 1)
        before = next((text for text in reversed(lines[:number]) if text.strip()), "")
        marker = NOT_RUN.fullmatch(before.strip())
        code = "\n".join(lines[number + 1 : end]) + "\n"
        found.append(Block(doc, number + 1, code, marker["reason"] if marker else None))
    return found


ALL = [block for doc in DOCS for block in blocks(doc)]
RUN = [block for block in ALL if block.not_run is None]


def test_blocks_are_found_and_reach_the_demo_server() -> None:
    for doc in DOCS:
        assert len([b for b in RUN if b.doc == doc]) >= 3, doc
    for block in RUN:
        assert ADDRESS.search(block.code), f"{block.name} does not connect to the demo server"
    # A marker stands right before a block; one that does not is a typo.
    for doc in DOCS:
        assert doc.read_text().count("<!-- not run:") == len(
            [b for b in ALL if b.doc == doc and b.not_run]
        ), doc


@pytest.mark.parametrize("block", [b for b in ALL if b.not_run], ids=lambda b: b.name)
def test_blocks_not_run_compile(block: Block) -> None:
    compile(block.code, block.name, "exec")


@pytest.fixture(scope="module")
def demo_server(demo: GeneratedDataset) -> Iterator[str]:
    """`make run`'s server: `serve --dataset proj1=DIR`, anonymous on loopback."""
    with server_process("--dataset", f"proj1={demo.root}") as (uri, _process):
        yield uri


@pytest.mark.parametrize("block", RUN, ids=lambda b: b.name)
def test_block_runs_as_written(block: Block, demo_server: str, tmp_path: Path) -> None:
    assert SQLALCHEMY2.is_dir(), "SQLAlchemy 2 is missing: run `make .tools/sqlalchemy2`"
    port = demo_server.rsplit(":", 1)[1]
    script = tmp_path / "block.py"
    script.write_text(ADDRESS.sub(f"127.0.0.1:{port}", block.code))
    result = subprocess.run(
        [sys.executable, "-W", "default", str(script)],
        cwd=REPO,
        env={**os.environ, **SPARK_ENV, "PYTHONPATH": str(SQLALCHEMY2)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, f"{block.name}:\n{result.stderr}"
    assert result.stdout.strip(), f"{block.name} prints nothing"
    assert "Cannot disable autocommit" not in result.stderr, block.name


def test_a_dataset_not_served_names_those_the_caller_may_see(demo: GeneratedDataset) -> None:
    datasets = [
        DatasetSettings(name="proj1", location=demo.root),
        DatasetSettings(name="other", location=demo.root),
    ]
    auth = AuthSettings(tokens=[StaticTokenSettings(token="t", user="u", datasets=["local/other"])])
    with (
        running_server(Settings(datasets=datasets, auth=auth)) as uri,
        fw_flight.connect(uri, token="t") as client,
    ):
        assert client.dataset("local.other").tables()
        for ref in ("fw://neuro/proj1", "local.proj1"):
            with pytest.raises(fw_flight.DatasetNotFound) as caught:
                client.dataset(ref)
            assert str(caught.value) == (
                f"dataset {ref!r} is not served; served datasets: local.other"
            )
