"""What a user installs: declared imports, the extras' split, licence, typing, sdist and wheel."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from functools import cache
from pathlib import Path

import pytest

from tests.support import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
FIRST_PARTY = {"flight_server", "fw_flight"}
SOURCES = [REPO / "flight_server", REPO / "clients" / "fw_flight"]

#: Files whose imports belong to a feature, and the extras (or dependency groups) it needs;
#: everything else may import only the base requirements.
FEATURES = {
    "flight_server/storage/s3.py": {"s3"},
    "flight_server/storage/gcs.py": {"gcs"},
    "flight_server/storage/azure.py": {"azure"},
    "flight_server/demo/": {"demo"},
    "flight_server/ops/spans.py": {"otel"},  # imported only when the extra is there
    "clients/fw_flight/sqlalchemy": {"sqlalchemy"},
    "clients/fw_flight/dask.py": {"dask"},
    "clients/fw_flight/spark.py": {"spark"},
    "clients/fw_flight/": {"client", "dataframes"},
    "flight_server/flightsql/generate.py": {"group:test"},  # `make proto`, a developer's tool
}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(text: str) -> tuple[str, set[str]]:
    """A requirement's distribution name and the extras it asks for."""
    match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", text)
    assert match, text
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return normalized(match.group(1)), extras


@cache
def declared(feature: str) -> frozenset[str]:
    """The distributions an extra (or ``group:NAME``) installs, the base included."""
    if feature == "base":
        entries = PROJECT["dependencies"]
    elif feature.startswith("group:"):
        entries = PYPROJECT["dependency-groups"][feature.removeprefix("group:")]
    else:
        entries = PROJECT["optional-dependencies"][feature]
    names: set[str] = set()
    for entry in entries:
        name, extras = requirement(entry)
        if name == normalized(PROJECT["name"]):
            for extra in extras:
                names |= declared(extra)
        else:
            names.add(name)
    return frozenset(names | (declared("base") if feature != "base" else set()))


def imported_modules(source: str) -> set[str]:
    """Every absolute third-party import in Python source, lazy and type-checking ones too."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return {
        m
        for m in modules
        if m.split(".")[0] not in FIRST_PARTY and m.split(".")[0] not in sys.stdlib_module_names
    }


@cache
def providers() -> dict[str, list[str]]:
    """Top-level module → distributions; a scan of every installed distribution, so once."""
    return importlib.metadata.packages_distributions()


@cache
def distribution_of(module: str) -> str:
    """The installed distribution that provides ``module`` (namespace packages resolved)."""
    candidates = providers().get(module.split(".")[0], [])
    assert candidates, f"{module} is installed by no distribution"
    if len(set(candidates)) == 1:
        return normalized(candidates[0])
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    origin = Path(spec.origin).resolve()
    for name in candidates:
        dist = importlib.metadata.distribution(name)
        if any(Path(dist.locate_file(f)).resolve() == origin for f in dist.files or ()):
            return normalized(name)
    raise AssertionError(f"no distribution lists {origin}")


def features_of(relative: str) -> set[str]:
    for prefix, features in FEATURES.items():
        if relative.startswith(prefix):
            return features
    return {"base"}


def test_every_third_party_import_is_declared_where_its_feature_needs_it() -> None:
    undeclared = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            allowed = set().union(*(declared(f) for f in features_of(relative)))
            for module in sorted(imported_modules(path.read_text())):
                if distribution_of(module) not in allowed:
                    undeclared.append(f"{relative}: {module} ({distribution_of(module)})")
    assert not undeclared, "imports not declared for their feature:\n" + "\n".join(undeclared)


def test_published_extras_hold_no_test_or_bench_tools() -> None:
    published = set().union(*(declared(extra) for extra in PROJECT["optional-dependencies"]))
    for group in ("test", "bench"):
        tools = {requirement(entry)[0] for entry in PYPROJECT["dependency-groups"][group]}
        assert not published & (tools - declared("all")), group
    for tool in ("pytest", "ruff", "moto", "roapi", "hypothesis"):
        assert tool not in published


def fresh_python(script: str, *args: str) -> str:
    """What ``script`` prints, run by a new interpreter in the repository (which modules
    a fresh process imports is what these tests see)."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_object_store_without_its_extra_says_which_to_install() -> None:
    script = (
        "import sys\n"
        "sys.modules['s3fs'] = None  # as when the s3 extra is not installed\n"
        "from flight_server.storage import StorageError, open_location, parse_location\n"
        "open_location(parse_location('/'))\n"
        "try:\n"
        "    open_location(parse_location('s3://bucket/prefix'))\n"
        "except StorageError as exc:\n"
        "    print(exc)\n"
    )
    assert fresh_python(script).strip() == (
        "s3 storage needs the 's3' extra (s3fs is not installed): pip install 'fw-flight-sql[s3]'"
    )


def test_a_server_of_local_datasets_imports_no_object_stores_libraries(tmp_path: Path) -> None:
    # They took half a second of every start-up and 60 MB of RSS.
    script = (
        "import sys\n"
        "from flight_server.config import DatasetSettings, Settings\n"
        "from flight_server.demo import write_dataset\n"
        "from flight_server.runtime import Runtime\n"
        "from flight_server.storage import open_location, parse_location\n"
        "STORES = ('s3fs', 'aiobotocore', 'gcsfs', 'google.auth', 'adlfs', 'azure.storage.blob')\n"
        "root = write_dataset(sys.argv[1], subjects=2, versions=1).root\n"
        "runtime = Runtime(Settings(datasets=[DatasetSettings(name='p', location=root)]))\n"
        "runtime.refresh()\n"
        "execution = runtime.engine.start('FROM local.p.sessions', runtime.default_context())\n"
        "execution.open()\n"
        "assert execution.next_batch().num_rows\n"
        "execution.close()\n"
        "print(sorted(m for m in STORES if m in sys.modules))\n"
        "open_location(parse_location('s3://bucket/prefix'))\n"
        "print(sorted(m for m in STORES if m in sys.modules))\n"
        "runtime.stop()\n"
    )
    output = fresh_python(script, str(tmp_path / "proj1"))
    assert output.splitlines() == ["[]", "['aiobotocore', 's3fs']"]


def test_an_object_stores_backend_loads_once_for_many_first_opens_at_once() -> None:
    # Catalog units open their locations on several threads: every first open gets the
    # store's own opener, none a refusal.
    script = (
        "import sys, threading\n"
        "from flight_server.storage import open_location, parse_location\n"
        "start, opened = threading.Barrier(8), []\n"
        "def first_open(n):\n"
        "    start.wait()\n"
        "    opened.append(type(open_location(parse_location(f's3://bucket-{n}/p'))).__name__)\n"
        "threads = [threading.Thread(target=first_open, args=(n,)) for n in range(8)]\n"
        "for thread in threads: thread.start()\n"
        "for thread in threads: thread.join()\n"
        "print(len(opened), sorted(set(opened)), 'gcsfs' in sys.modules)\n"
    )
    assert fresh_python(script).strip() == "8 ['S3FileSystem'] False"


def test_make_run_installs_what_the_readme_snippets_import() -> None:
    install = next(line for line in make_dry_run("run") if "-e " in line)
    (extras,) = re.findall(r"\.\[([^\]]+)\]", install)
    installed = set().union(*(declared(extra) for extra in extras.split(",")))
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)
    needed = set().union(*(imported_modules(block) for block in blocks))
    assert {"adbc_driver_flightsql.dbapi", "polars"} <= needed
    assert {m: distribution_of(m) for m in needed if distribution_of(m) not in installed} == {}


def test_docs_name_extras_that_exist() -> None:
    extras = set(PROJECT["optional-dependencies"])
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text()
        for named in re.findall(r"fw-flight-sql\[([^\]]+)\]", text):
            assert set(named.split(",")) <= extras, (path.name, named)
        for named in re.findall(r"the `([a-z0-9]+)` extra", text):
            assert named in extras, (path.name, named)
    readme = (REPO / "README.md").read_text()
    before_client = readme[: readme.index("import fw_flight")]
    assert "`client` extra" in before_client[before_client.rindex("`fw_flight`") :]


def test_licence_and_metadata() -> None:
    assert PROJECT["license"] == "MIT"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (REPO / "LICENSE").read_text().startswith("MIT License\n")
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]  # PEP 639
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert PROJECT["urls"]
    assert (REPO / "CHANGELOG.md").read_text().startswith("# Changelog\n")
    for package in ("flight_server", "clients/fw_flight"):
        assert (REPO / package / "py.typed").is_file()


def make_dry_run(target: str) -> list[str]:
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", target],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return dry.stdout.replace("\\\n", " ").splitlines()  # continuation lines joined


@pytest.mark.parametrize("target", ["run", "test"])
def test_make_installs_through_constraints_in_one_call(target: str) -> None:
    # Into the venv, that is: a ``--target`` folder beside it is not the venv's resolution.
    pips = [
        line
        for line in make_dry_run(target)
        if re.search(r"\bpip install\b", line) and "--target" not in line
    ]
    assert pips and all("-c constraints.txt" in line for line in pips), pips
    packages = [line for line in pips if "-e " in line]
    assert len(packages) == 1, packages
    (install,) = packages
    if target == "run":
        assert "--group" not in install
        assert "'.[client,dataframes,demo]'" in install
    else:
        assert "'.[all]'" in install and "--group test" in install and "--group bench" in install


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist, and the wheel built from it, as a release would make them."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_sdist_ships_the_docs_the_readme_links_to(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    readme = (REPO / "README.md").read_text()
    linked = set(re.findall(r"(?<![\w/])((?:docs|clients/examples)/[\w./-]+\.(?:md|py))", readme))
    assert linked and linked <= names, linked - names
    assert {"LICENSE", "CHANGELOG.md", "constraints.txt"} <= names
    assert {"flight_server/py.typed", "clients/fw_flight/py.typed"} <= names


def test_wheel_ships_typing_and_licence(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = wheel.read(metadata).decode()
    assert {"flight_server/py.typed", "fw_flight/py.typed"} <= names
    assert "flight_server/flightsql/flight_sql_pb2.pyi" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in text
    extras = set(re.findall(r"^Provides-Extra: (.+)$", text, re.MULTILINE))
    assert {"s3", "gcs", "azure", "server", "client", "dataframes", "demo"} <= extras
    assert not {"test", "bench"} & extras
    assert not any(n.startswith(("tests/", "benchmarks/", "docs/")) for n in names)
