"""Starting the server as users do: ``make run``, a busy port, a mistyped dataset root, export."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from flight_server.cli import main
from flight_server.demo import GeneratedDataset
from tests.support import REPO, flight_process, free_port

SERVE = [sys.executable, "-m", "flight_server", "serve", "--host", "127.0.0.1"]


@contextmanager
def listening(port: int) -> Iterator[socket.socket | None]:
    """Hold ``127.0.0.1:port`` as another program would; None when one already does."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        assert exc.errno == errno.EADDRINUSE
        yield None
        return
    with sock:
        sock.listen()
        yield sock


def start(*args: str) -> subprocess.CompletedProcess[str]:
    """A ``serve`` expected to stop at start-up (the test's timeout bounds the rest)."""
    return subprocess.run([*SERVE, *args], cwd=REPO, capture_output=True, text=True)


def test_busy_flight_port_is_one_line(demo: GeneratedDataset) -> None:
    port = free_port()
    with listening(port):
        result = start("--port", str(port), "--ops-port", "0", "--dataset", f"p={demo.root}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"fw-flight-sql: cannot start: cannot serve Flight SQL on grpc://127.0.0.1:{port}: "
        "address already in use"
    )
    assert "absl" not in result.stderr and "Unknown error" not in result.stderr


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_missing_dataset_root_does_not_exist(tmp_path: Path, form: str) -> None:
    root = tmp_path / "no-such-dataset"
    location = str(root) if form == "path" else f"file://{root}"
    result = start("--port", "0", "--ops-port", "0", "--dataset", f"proj1={location}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"fw-flight-sql: --dataset proj1: {root} does not exist"


def make_run_commands(**variables: str) -> list[str]:
    """The shell commands ``make run`` would run, continuation lines joined."""
    assignments = [f"{name}={value}" for name, value in variables.items()]
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *assignments],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return dry.stdout.replace("\\\n", " ").splitlines()


def test_make_run_serves_with_9090_busy_and_prints_a_query_to_paste(
    demo: GeneratedDataset,
) -> None:
    port = free_port()
    commands = make_run_commands(PORT=str(port), DEMO_DIR=str(Path(demo.root).parent))
    (serve,) = [c for c in commands if "fw-flight-sql serve" in c]
    with (
        listening(9090),
        flight_process(["bash", "-c", serve], port, read_output=True) as (_uri, process),
    ):
        assert process.stdout is not None
        hints = (line for line in process.stdout if "try it: " in line)
        hint = next(hints).split("try it: ", 1)[1].strip()
        pasted = subprocess.run(
            ["bash", "-c", hint], cwd=REPO, capture_output=True, text=True, timeout=60
        )
    assert pasted.returncode == 0, pasted.stderr
    assert f"--uri grpc://127.0.0.1:{port} " in hint
    assert "(10 rows)" in pasted.stdout


def export(*args: str) -> tuple[int, str]:
    """Exit code and the last line on stderr (the log comes before it)."""
    result = CliRunner().invoke(main, ["export", *args])
    return result.exit_code, (result.stderr.strip().splitlines() or [""])[-1]


@pytest.mark.parametrize("ref", ["local.proj1", "proj1", "fw://local/proj1"])
def test_export_takes_datasets_as_serve_does(
    demo: GeneratedDataset, tmp_path: Path, ref: str
) -> None:
    code, output = export(ref, "--to", str(tmp_path), "--dataset", f"proj1={demo.root}")
    assert code == 0, output
    (stamp,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    provenance = json.loads((stamp / "provenance.json").read_text())
    assert provenance["source"] == {"catalog": "local", "name": "proj1", "kind": "dataset"}
    assert sorted(provenance["tables"]) == sorted(demo.latest.tables)


def test_export_bare_name_must_be_unambiguous(demo: GeneratedDataset, tmp_path: Path) -> None:
    code, output = export(
        "proj1", "--to", str(tmp_path / "out"), "--config", _config(tmp_path, demo)
    )
    assert code == 1
    assert output == (
        "fw-flight-sql: export failed: proj1 names several datasets; say which: a.proj1, b.proj1"
    )


def _config(tmp_path: Path, demo: GeneratedDataset) -> str:
    path = tmp_path / "config.yaml"
    entries = [{"name": "proj1", "catalog": c, "location": demo.root} for c in ("a", "b")]
    path.write_text(json.dumps({"datasets": entries}))
    return str(path)
