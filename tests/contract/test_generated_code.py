"""The committed *_pb2*.py files are exactly what proto/generate.sh produces from the .proto files."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GENERATED = ["options_pb2.py", "options_pb2.pyi", "types_pb2.py", "types_pb2.pyi",
             "service_pb2.py", "service_pb2.pyi", "service_pb2_grpc.py"]


def test_committed_generated_code_is_fresh(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the code")
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    subprocess.run(["bash", str(tmp_path / "proto" / "generate.sh")], check=True, cwd=tmp_path)
    fresh_dir, committed_dir = tmp_path / "proto" / "bnns" / "v1", ROOT / "proto" / "bnns" / "v1"
    stale = [name for name in GENERATED
             if (fresh_dir / name).read_bytes() != (committed_dir / name).read_bytes()]
    assert not stale, f"stale generated code {stale}: run proto/generate.sh and commit the result"
    assert sorted(p.name for p in fresh_dir.glob("*_pb2*.py*")) == sorted(GENERATED)


def test_committed_kserve_generated_code_is_fresh(tmp_path):
    pytest.importorskip("grpc_tools", reason="grpcio-tools (the test extra) regenerates the code")
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    subprocess.run(["bash", str(tmp_path / "proto" / "generate.sh")], check=True, cwd=tmp_path)
    fresh_dir, committed_dir = tmp_path / "proto" / "inference", ROOT / "proto" / "inference"
    names = ["grpc_service_pb2.py", "grpc_service_pb2.pyi"]
    stale = [name for name in names if (fresh_dir / name).read_bytes() != (committed_dir / name).read_bytes()]
    assert not stale, f"stale generated code {stale}: run proto/generate.sh and commit the result"


def test_committed_constants_stub_is_fresh():
    """client/constants.pyi (the constants' names for mypy) lists exactly what the module makes."""
    from bnns.client.constants import typing_stub
    assert (ROOT / "client" / "constants.pyi").read_text() == typing_stub(), \
        "stale client/constants.pyi: run proto/generate.sh and commit the result"
