"""The Python recipes in docs/clients.md run as written against a real server."""

from __future__ import annotations

import re

import pytest

from tests.support import REPO

DOC = REPO / "docs" / "clients.md"
DOC_URI = "grpc://localhost:32010"
NOT_RUN = "# not run in tests"


def recipes() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [block for block in blocks if not block.startswith(NOT_RUN)]


def test_recipes_are_found() -> None:
    assert len(recipes()) >= 3
    assert all(DOC_URI in recipe for recipe in recipes())


@pytest.mark.parametrize("index", range(len(recipes())))
def test_recipe_runs(index: int, server_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = recipes()[index].replace(DOC_URI, server_uri)
    exec(compile(code, f"{DOC}:recipe{index}", "exec"), {})
    assert capsys.readouterr().out.strip()
