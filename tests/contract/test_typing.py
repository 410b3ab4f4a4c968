"""The type checker sees what the SDK makes from the contract: the structs generated as source
(client/c_structs.py, proto/gen_structs.py) and the Apple constants (client/constants.pyi), so a
misspelled field, keyword or constant is a mypy error, as it would be for hand-written ones."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

PROGRAM = '''\
import bnns.client as bnns
good = bnns.BNNSNDArrayDescriptor(layout=bnns.BNNSDataLayoutVector, size=(3,), data_type=bnns.BNNSDataTypeFloat32)
conv = bnns.BNNSLayerParametersConvolution(i_desc=good, w_desc=good, o_desc=good, x_stride=2)
wire = conv.to_proto()
geometry = good.geometry()
bad_keyword = bnns.BNNSNDArrayDescriptor(layuot=bnns.BNNSDataLayoutVector, size=(3,))
bad_constant = bnns.BNNSDataLayoutVectr
conv.x_strid = 2
not_an_int: int = conv.to_proto()
missing_required = bnns.BNNSLayerParametersConvolution(i_desc=good, w_desc=good)
'''


def test_mypy_types_the_structs_and_constants_made_from_the_contract(tmp_path):
    program = tmp_path / "uses_the_sdk.py"
    program.write_text(PROGRAM)
    run = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), str(program)],
                         cwd=ROOT, capture_output=True, text=True)
    errors = {int(m.group(1)): m.group(2) for m in re.finditer(r"uses_the_sdk\.py:(\d+): error: (.*)", run.stdout)}
    assert run.returncode == 1, run.stdout + run.stderr
    assert sorted(errors) == [6, 7, 8, 9, 10], run.stdout
    assert 'Unexpected keyword argument "layuot" for "BNNSNDArrayDescriptor"' in errors[6]
    assert 'Module has no attribute "BNNSDataLayoutVectr"' in errors[7]
    assert '"BNNSLayerParametersConvolution" has no attribute "x_strid"' in errors[8]
    assert '"ConvolutionParameters", variable has type "int"' in errors[9]
    assert 'Missing positional argument "o_desc"' in errors[10]
