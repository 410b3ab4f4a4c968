#!/usr/bin/env bash
# Regenerates the committed protobuf/gRPC modules beside the .proto files.
# Needs grpcio-tools (pip install -e ".[test]"). tests/contract/test_generated_code.py fails when
# the committed modules differ from what this produces.
set -euo pipefail
cd "$(dirname "$0")/.."   # the repository root
python -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto --grpc_python_out=proto \
  proto/bnns/v1/options.proto proto/bnns/v1/types.proto proto/bnns/v1/service.proto
# Only service.proto declares a service: drop the empty gRPC modules of the other two.
rm -f proto/bnns/v1/options_pb2_grpc.py proto/bnns/v1/types_pb2_grpc.py
# The generated code imports "bnns.v1.x_pb2", the installed package name (pyproject maps bnns.v1
# to proto/bnns/v1), so nothing is rewritten.
# The KServe V2 (Open Inference Protocol) API, package `inference`: messages only (the server
# serves it with generic handlers, server/kserve.py), imported as bnns.inference.
python -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto proto/inference/grpc_service.proto
# protoc's stubs type an enum field's argument as its enum or a value name, but an open proto3 enum
# takes any int (and the SDK passes Apple's raw values as ints): the stubs say so.
perl -pi -e 's/_Union\[([\w.]+), str\]/_Union[$1, str, int]/g' proto/bnns/v1/*_pb2.pyi proto/inference/*_pb2.pyi
# The kernels' parameter dataclasses, written as source from the same contract (plain Python:
# kernels/ never imports protobuf; mypy and readers see the fields). Not in a copy of proto/ alone.
if [ -d kernels ]; then
  python proto/gen_params.py > kernels/params.py
fi
# The SDK's C structs, written as source from the (bnns.v1.apple_struct) options (mypy and IDEs see
# each struct's fields; the hand-written rest they build on is client/structs.py).
if [ -d client ]; then
  python proto/gen_structs.py > client/c_structs.py
fi
# The wire -> kernel decoders, a function per parameters message (server/, which may import protobuf).
if [ -d server ]; then
  python proto/gen_params.py decoders > server/decoders.py
fi
# The SDK's constants are made from the apple_name options at import; their typing stub (for mypy,
# which cannot follow that) is written from the same contract. Not in a copy of proto/ alone. Last:
# importing bnns.client imports the generated modules above.
if [ -d client ]; then
  python -c "from bnns.client.constants import typing_stub; print(typing_stub(), end='')" > client/constants.pyi
fi
