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


def test_committed_decoders_are_fresh():
    """server/decoders.py (a wire -> kernel decoder per parameters message) is what
    proto/gen_params.py writes from the same messages as kernels/params.py."""
    generator = runpy.run_path(str(ROOT / "proto" / "gen_params.py"))
    assert (ROOT / "server" / "decoders.py").read_text() == generator["render_decoders"](), \
        "stale server/decoders.py: run proto/generate.sh and commit the result"


def test_decoders_read_the_field_options():
    """zero_means_default reads a wire zero as the schema's default; entries takes all or none of a
    fixed-length field, naming its entries; an unset "null" descriptor is None."""
    from bnns.kernels.errors import InvalidArgumentError
    from bnns.server import decoders
    from bnns.v1 import types_pb2
    vector = types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_VECTOR, size=[4])
    image = types_pb2.NDArrayDescriptor(layout=types_pb2.DATA_LAYOUT_IMAGE_CHW, size=[4, 4, 1])
    norm = decoders.normalization_parameters(types_pb2.NormalizationParameters(i_desc=vector, o_desc=vector))
    assert norm.num_groups == 1 and norm.beta_desc is None and norm.momentum == 0.0   # only num_groups: 0 means 1
    embedding = types_pb2.EmbeddingParameters(i_desc=vector, o_desc=vector, dictionary=vector)
    assert decoders.embedding_parameters(embedding).norm_type == 2.0
    pool = types_pb2.PoolingParameters(i_desc=image, o_desc=image)
    assert decoders.pooling_parameters(pool).pad == (0, 0, 0, 0)
    pool.pad[:] = [1, 2, 3, 4]
    assert decoders.pooling_parameters(pool).pad == (1, 2, 3, 4)
    pool.pad[:] = [1, 2, 3]
    with pytest.raises(InvalidArgumentError, match=r"pad has 3 values; BNNS takes 4 \(left, right, up, down\)"):
        decoders.pooling_parameters(pool)


def test_committed_sdk_structs_are_fresh():
    """client/c_structs.py (the SDK's C structs) is what proto/gen_structs.py writes from the
    contract's apple_struct options: a struct's fields, names, defaults and to_proto change only
    through proto/generate.sh."""
    generator = runpy.run_path(str(ROOT / "proto" / "gen_structs.py"))
    assert (ROOT / "client" / "c_structs.py").read_text() == generator["render"](), \
        "stale client/c_structs.py: run proto/generate.sh and commit the result"


def test_sdk_structs_follow_the_apple_struct_options():
    """Each struct holds its message's fields under Apple's names in Apple's order, the
    sdk_required ones first without a default, SDK-only defaults over the schema's; to_proto sends
    shape-only descriptors without data, drops None entries, flattens pairs and Yolo's inline fields;
    trainables() names the arrays from the trainable options."""
    import dataclasses

    import numpy as np

    import bnns.client as bnns
    from bnns.v1 import service_pb2, types_pb2
    matmul = [f.name for f in dataclasses.fields(bnns.BNNSLayerParametersBroadcastMatMul)]
    assert matmul == ["alpha", "beta", "transA", "transB", "quadratic", "a_is_weights", "b_is_weights", "iA_desc",
                      "iB_desc", "o_desc"]
    contraction = dataclasses.fields(bnns.BNNSLayerParametersTensorContraction)
    assert contraction[0].name == "operation" and contraction[0].default is dataclasses.MISSING
    sgd = bnns.BNNSOptimizerSGDMomentumWithClippingFields(0.1)
    assert [f.name for f in dataclasses.fields(sgd)][-3:] == ["clipping_func", "clip_gradients_max_norm",
                                                              "clip_gradients_use_norm"]
    assert not hasattr(sgd, "clip_gradients") and isinstance(sgd.to_proto(), service_pb2.OptimizerFields)
    assert bnns.BNNSLayerParametersLossHuber(0, None, None).huber_delta == 1.0       # type: ignore[arg-type]
    assert bnns.BNNSLayerParametersLossYolo(0, None, None).huber_delta == 0.0        # type: ignore[arg-type]
    data = np.arange(4, dtype=np.float32)
    desc = bnns.BNNSNDArrayDescriptor.from_array(data, bnns.BNNSDataLayoutVector)
    conv = bnns.BNNSLayerParametersConvolution(desc, desc, desc)
    wire = conv.to_proto()
    assert not wire.i_desc.HasField("data") and not wire.o_desc.HasField("data") and wire.w_desc.HasField("data")
    assert not wire.HasField("bias") and conv.trainables() == {"weights": desc, "bias": None}
    padding = bnns.BNNSLayerParametersPadding(desc, desc, [(1, 2), None, (3, 4)])
    assert list(padding.to_proto().padding_size) == [1, 2, 3, 4]
    yolo = bnns.BNNSLayerParametersLossYolo(0, desc, desc, number_of_grid_rows=7, anchors_data=[1.0, 2.0])
    assert yolo.to_proto().yolo == types_pb2.YoloParameters(number_of_grid_rows=7, anchors_data=[1.0, 2.0], scale_xy=1,
                                                            scale_wh=1, scale_object=1, scale_no_object=1,
                                                            scale_classification=1)
    norm = bnns.BNNSLayerParametersNormalization(desc, desc, gamma_desc=desc)
    assert norm.to_proto(type=types_pb2.FILTER_TYPE_LAYER_NORM).type == types_pb2.FILTER_TYPE_LAYER_NORM
    assert norm.trainables()["gamma"] is desc and bnns.BNNSActivation().trainables() == {}
    params = bnns.BNNSFilterParameters(flags=1, alloc_memory=object())
    assert params.to_proto() == types_pb2.FilterParameters(flags=1)


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
    assert params.ArithmeticBinary.__dataclass_fields__["in2_type"].default == types_pb2.DESCRIPTOR_TYPE_SAMPLE
    assert params.ArithmeticParameters.__dataclass_fields__["binary"].default is None          # a oneof case
    with pytest.raises(TypeError):                      # keyword-only: proto order is not the kernels' old order
        params.GramParameters(1.0, None, None)          # type: ignore[misc, arg-type]
    source = (ROOT / "kernels" / "params.py").read_text()
    assert "protobuf" not in source.split('"""', 2)[2] and "_pb2" not in source
