"""The committed *_pb2*.py files are exactly what proto/generate.sh produces from the .proto files."""

from __future__ import annotations

import pathlib
import runpy
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


def test_committed_kernel_params_are_fresh():
    """kernels/params.py (the kernels' parameter dataclasses) is what proto/gen_params.py writes
    from the contract: a field added to, renamed in or given a default in a parameters message
    reaches the kernels only through proto/generate.sh."""
    generator = runpy.run_path(str(ROOT / "proto" / "gen_params.py"))
    assert (ROOT / "kernels" / "params.py").read_text() == generator["render"](), \
        "stale kernels/params.py: run proto/generate.sh and commit the result"


def test_kernel_params_take_each_message_field_with_the_schema_default():
    """Each generated dataclass has its message's fields in the message's order; a field with a
    (bnns.v1.default) option defaults to it, "null" to None, and a message field without it is
    required; the kernels see no protobuf."""
    import dataclasses

    from bnns.kernels import params
    from bnns.v1 import service_pb2, types_pb2
    conv = {f.name: f for f in dataclasses.fields(params.ConvolutionParameters)}
    assert list(conv) == [f.name for f in types_pb2.ConvolutionParameters.DESCRIPTOR.fields]
    assert (conv["x_stride"].default, conv["groups"].default, conv["pad"].default) == (1, 1, (0, 0, 0, 0))
    assert conv["bias"].default is None and conv["i_desc"].default is dataclasses.MISSING
    assert conv["activation"].default == params.Activation()
    adam = params.OptimizerFields()
    assert (adam.beta1, adam.beta2, adam.epsilon, adam.time_step) == (0.9, 0.999, 1e-8, 1.0)
    assert [f.name for f in dataclasses.fields(params.OptimizerFields)] == \
        [f.name for f in service_pb2.OptimizerFields.DESCRIPTOR.fields]
    assert params.EmbeddingParameters.__dataclass_fields__["padding_idx"].default is None   # proto3 optional
    assert params.ArithmeticOperand.__dataclass_fields__["type"].default == types_pb2.DESCRIPTOR_TYPE_SAMPLE
    with pytest.raises(TypeError):                      # keyword-only: proto order is not the kernels' old order
        params.GramParameters(1.0, None, None)          # type: ignore[misc, arg-type]
    source = (ROOT / "kernels" / "params.py").read_text()
    assert "protobuf" not in source.split('"""', 2)[2] and "_pb2" not in source
