"""Regenerate api_pb2.py and api_pb2_grpc.py from api.proto (needs grpcio-tools, the dev extra)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]  # exporters/, so imports in the stubs read sdobs_exporters.gpu.podresources


def main() -> int:
    proto = HERE.relative_to(ROOT) / "api.proto"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT}", f"--python_out={ROOT}",
           f"--pyi_out={ROOT}", f"--grpc_python_out={ROOT}", str(proto)]
    code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    if code == 0:
        for name in ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py"):
            path = HERE / name
            path.write_text("# ruff: noqa\n" + path.read_text())
    return code


if __name__ == "__main__":
    raise SystemExit(main())
