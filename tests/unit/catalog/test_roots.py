"""``RootAllowlist``: a project's dataset root must lie under a root allowed for its storage."""

from __future__ import annotations

import pytest

from flight_server.catalog.flywheel.roots import RootAllowlist, RootNotAllowed
from flight_server.storage import StorageError, parse_location

ALLOWED = RootAllowlist(
    {
        "st1": ["s3://bkt/study", "gs://other/"],
        "st2": ["az://acct/ctr/data"],
        "environment": ["/srv/datasets"],
    }
)


def allowed(storage: str, url: str, allowlist: RootAllowlist = ALLOWED) -> bool:
    try:
        allowlist.check(storage, parse_location(url))
    except RootNotAllowed:
        return False
    return True


@pytest.mark.parametrize(
    ("storage", "url"),
    [
        ("st1", "s3://bkt/study"),
        ("st1", "s3://bkt/study/"),
        ("st1", "s3://bkt/study/site/x"),
        ("st1", "s3://bkt//study//x"),
        ("st1", "gs://other"),
        ("st1", "gcs://other/any/prefix"),
        ("st2", "az://acct.blob.core.windows.net/ctr/data/p"),
        ("environment", "/srv/datasets/proj1"),
        ("environment", "file:///srv/datasets"),
    ],
)
def test_roots_under_an_allowed_root_pass(storage: str, url: str) -> None:
    assert allowed(storage, url)


@pytest.mark.parametrize(
    ("storage", "url"),
    [
        ("st1", "s3://bkt/study2"),  # segments, not string prefixes
        ("st1", "s3://bkt/stud"),
        ("st1", "s3://bkt"),
        ("st1", "s3://other/study"),
        ("st1", "gs://bkt/study"),  # same path, another storage type
        ("st2", "az://acct2/ctr/data"),  # same container, another account
        ("st2", "az://acct/ctr/database"),
        ("st3", "s3://bkt/study"),  # a storage with no list allows nothing
        ("environment", "/srv"),
        ("environment", "s3://srv/datasets"),
    ],
)
def test_roots_elsewhere_are_refused(storage: str, url: str) -> None:
    assert not allowed(storage, url)


@pytest.mark.parametrize(
    "url", ["s3://bkt/study/../secrets", "s3://bkt/study/./x", "/srv/datasets/../../etc"]
)
def test_dot_segments_are_refused(url: str) -> None:
    with pytest.raises(RootNotAllowed, match=r"\. or \.\. segments"):
        ALLOWED.check("st1", parse_location(url))


def test_the_refusal_names_the_root_and_storage_without_credentials() -> None:
    location = parse_location("s3://bkt/elsewhere?secret_access_key=TOPSECRETVALUE")
    with pytest.raises(RootNotAllowed) as caught:
        ALLOWED.check("st1", location)
    message = str(caught.value)
    assert "s3://bkt/elsewhere" in message and "st1" in message
    assert "TOPSECRETVALUE" not in message
    assert isinstance(caught.value, StorageError)


def test_no_list_allows_everything_and_an_empty_list_nothing() -> None:
    assert allowed("any", "s3://anything/../at/all", RootAllowlist(None))
    assert not allowed("st1", "s3://bkt/study", RootAllowlist({}))
    assert not allowed("st1", "s3://bkt/study", RootAllowlist({"st1": []}))
