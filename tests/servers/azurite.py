"""An Azure Blob test server: Azurite (from npm) as a child process on 127.0.0.1.

Started with ``--blobPort 0`` so the OS picks the port (no free-port race); the port is
read from Azurite's "successfully listens on" line. ``--disableTelemetry`` matters:
without it Azurite reports usage to Microsoft, which tests must never reach.
Install: ``npm install --prefix .tools azurite@3.35.0`` at the repository root.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

DEFAULT_BINARY = Path(__file__).resolve().parents[2] / ".tools/node_modules/.bin/azurite-blob"
# Azurite's fixed development account, documented by Microsoft; not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_LISTENING = re.compile(r"listens on http://127\.0\.0\.1:(\d+)")


def azurite_binary() -> Path:
    """Where azurite-blob is expected: $AZURITE_BLOB, else the repository's .tools."""
    return Path(os.environ.get("AZURITE_BLOB") or DEFAULT_BINARY)


class AzuriteServer:
    """Azurite's blob service in memory on a free loopback port; a context manager."""

    account = ACCOUNT
    account_key = ACCOUNT_KEY

    def __init__(self, binary: Path | None = None, start_timeout: float = 30.0) -> None:
        self.binary = binary or azurite_binary()
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log_path = Path()
        self._port: int | None = None

    def start(self) -> Self:
        """Spawn Azurite and wait until it listens; raise with its output if it does not."""
        if not self.binary.exists():
            raise FileNotFoundError(f"azurite-blob not found at {self.binary}")
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        self._log_path = Path(self._workdir.name) / "azurite.log"
        args = [
            str(self.binary),
            "--blobHost", "127.0.0.1",
            "--blobPort", "0",
            "--inMemoryPersistence",
            "--extentMemoryLimit", "256",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]  # fmt: skip
        with open(self._log_path, "wb") as output:
            self._process = subprocess.Popen(
                args,
                cwd=self._workdir.name,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            self._port = self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self) -> int:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            output = self._log_path.read_text(encoding="utf-8", errors="replace")
            if match := _LISTENING.search(output):
                return int(match.group(1))
            if self._process.poll() is not None:
                raise RuntimeError(f"azurite exited with {self._process.returncode}:\n{output}")
            time.sleep(0.05)
        raise TimeoutError(f"azurite did not listen within {self.start_timeout} s")

    def stop(self) -> None:
        """Terminate Azurite (kill it if it lingers) and remove its working directory."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._workdir is not None:
            self._workdir.cleanup()
        self._process = self._workdir = self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>/devstoreaccount1``: the account's blob endpoint."""
        if self._port is None:
            raise RuntimeError("AzuriteServer is not running")
        return f"http://127.0.0.1:{self._port}/{self.account}"

    @property
    def connection_string(self) -> str:
        """A connection string for azure-storage-blob clients."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};"
            f"AccountKey={self.account_key};BlobEndpoint={self.endpoint_url};"
        )

    def location_options(self) -> dict[str, str]:
        """The ``Location.options`` that reach this server, in Flywheel's names."""
        return {
            "account_name": self.account,
            "access_key": self.account_key,
            "endpoint_url": self.endpoint_url,
        }

    def create_container(self, name: str) -> None:
        """Create a container; existing ones are kept."""
        client = BlobServiceClient.from_connection_string(self.connection_string)
        with client, contextlib.suppress(ResourceExistsError):
            client.create_container(name)
