"""``parse_location`` and ``parse_query``: storage URLs as users and Flywheel write them."""

from __future__ import annotations

import pytest

from flight_server.storage import Location, StorageError, parse_location
from flight_server.storage.base import canonical_type, is_true, parse_query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1&b=2", {"a": "1", "b": "2"}),
        # No URL decoding: + and % stay as written.
        ("key=a+b%2F", {"key": "a+b%2F"}),
        # Only the first = separates; base64 padding stays in the value.
        ("k=abc==", {"k": "abc=="}),
        # An & not followed by name= belongs to the value before it.
        ("s=x&y&z=1", {"s": "x&y", "z": "1"}),
        ("s=a&=b", {"s": "a&=b"}),
        ("flag=", {"flag": ""}),
        ("=orphan&a=1", {"a": "1"}),
        ("a=1&a=2", {"a": "2"}),
    ],
)
def test_parse_query(query: str, expected: dict[str, str]) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bkt", ("s3", "bkt", "")),
        ("s3://bkt/", ("s3", "bkt", "")),
        ("S3://bkt//a/b//", ("s3", "bkt", "a/b")),
        ("gcs://bkt/a", ("gs", "bkt", "a")),
        ("gs://bkt/a?anon=true", ("gs", "bkt", "a")),
        ("az://acct/ctr/p", ("az", "ctr", "p")),
        ("abfss://ctr@acct.dfs.core.windows.net/p", ("az", "ctr", "p")),
        ("local:///srv/data/", ("fs", "/srv/data", "")),
        ("file:///", ("fs", "/", "")),
        ("relative/dir/", ("fs", "relative/dir", "")),
        ("/", ("fs", "/", "")),
    ],
)
def test_parse_location_parts(url: str, expected: tuple[str, str, str]) -> None:
    location = parse_location(url)
    assert (location.type, location.bucket, location.prefix) == expected


def test_options_from_query_host_and_caller() -> None:
    location = parse_location(
        "az://acct.blob.example.org/ctr/p?endpoint_url=http://127.0.0.1:1&x=1", {"x": "2"}
    )
    # The query beats what the host implies; the caller's options beat the query.
    assert location.options == {
        "account_name": "acct",
        "endpoint_url": "http://127.0.0.1:1",
        "x": "2",
    }
    assert parse_location("/data", {"k": "v"}).options == {"k": "v"}


def test_root_and_display_never_show_options() -> None:
    location = parse_location("s3://bkt/a/b?secret_access_key=TOPSECRETVALUE")
    assert location.root == "bkt/a/b"
    assert location.display() == "s3://bkt/a/b"
    assert "TOPSECRETVALUE" not in repr(location)
    assert parse_location("/srv/x").display() == "file:///srv/x"
    # Options do not make two locations different places.
    assert location == Location("s3", "bkt", "a/b")


@pytest.mark.parametrize("url", ["gs://", "s3:///prefix", "abfs://", "az:///ctr", "hdfs://x/y"])
def test_unusable_locations_are_refused(url: str) -> None:
    with pytest.raises(StorageError):
        parse_location(url)


def test_type_spellings_and_booleans() -> None:
    assert [canonical_type(t) for t in ("GCS", "azure", "abfss", "file", "local")] == [
        "gs",
        "az",
        "az",
        "fs",
        "fs",
    ]
    with pytest.raises(StorageError, match="unknown storage type"):
        canonical_type("ftp")
    assert [is_true(v) for v in ("1", " True ", "yes", "on")] == [True] * 4
    assert [is_true(v) for v in (None, "", "0", "false", "no", "y")] == [False] * 6
