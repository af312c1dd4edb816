"""Regenerate the protobuf modules next to this file from its .proto files.

Run ``python -m flight_server.flightsql.generate`` after editing a .proto; the
generated ``*_pb2.py``/``*_pb2.pyi`` files are committed so the server needs no
protoc at run time.

protoc registers every file in protobuf's process-wide default descriptor pool.
Other Flight SQL packages (flightsql-dbapi, for one) register the very same
``arrow.flight.protocol.sql.*`` names there, and whichever module is imported
second then fails with "duplicate symbol". The message names are wire facts
(they are the Any type URLs), so instead each generated module is rewritten to
load its descriptors into a private pool.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_FILES = ("flight_sql.proto", "flight_session.proto")

_DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
_PRIVATE_POOL = "DESCRIPTOR = _descriptor_pool.DescriptorPool().AddSerializedFile("
_MARKER = "# Rewritten by flight_server/flightsql/generate.py to use a private descriptor pool.\n"


def _use_private_pool(module: Path) -> None:
    text = module.read_text()
    if text.count(_DEFAULT_POOL) != 1:
        raise RuntimeError(f"{module}: unexpected protoc output, cannot switch descriptor pool")
    module.write_text(_MARKER + text.replace(_DEFAULT_POOL, _PRIVATE_POOL))


def generate(out_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Compile every proto in PROTO_FILES into ``out_dir``; return the files written."""
    from grpc_tools import protoc  # build-time tool only, so imported lazily

    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"--proto_path={PACKAGE_DIR}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *(str(PACKAGE_DIR / name) for name in PROTO_FILES),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    written = []
    for name in PROTO_FILES:
        module = out_dir / f"{Path(name).stem}_pb2.py"
        _use_private_pool(module)
        written += [module, module.with_suffix(".pyi")]
    return written


def main() -> None:
    for path in generate():
        print(path, file=sys.stderr)


if __name__ == "__main__":
    main()
