"""Helpers for tests of the whole service: an in-process server with its ops port, scrapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from flight_server.config import Settings
from flight_server.service import Service


@contextmanager
def running_service(settings: Settings) -> Iterator[Service]:
    """The real service (middleware, telemetry, ops port) on free loopback ports."""
    service = Service(settings.model_copy(update={"host": "127.0.0.1", "port": 0, "ops_port": 0}))
    try:
        yield service
    finally:
        service.stop(grace_seconds=10)


def get(port: int, path: str) -> tuple[int, str]:
    """Status and body of ``GET http://127.0.0.1:port/path``, errors included."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get_json(port: int, path: str) -> tuple[int, dict]:
    status, body = get(port, path)
    return status, json.loads(body)


def scrape(port: int) -> dict[str, float]:
    """``/metrics`` as {sample name with labels: value}."""
    status, text = get(port, "/metrics")
    assert status == 200
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples
