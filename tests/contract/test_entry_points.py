"""The README's entry-point table tells the truth: it lists every C entry point of BNNS's public
header (bnns.h, macOS 15 SDK; BNNSGraph, a separate API, aside), once, and a row says "served"
exactly when the SDK has that function under Apple's name (and over the wire unless the row
says the SDK computes it alone)."""

from __future__ import annotations

import re
from pathlib import Path

import bnns.client as bnns

# bnns.h's functions, by family (97).
HEADER = """
BNNSFilterCreateLayerConvolution BNNSFilterCreateLayerTransposedConvolution BNNSFilterCreateLayerFullyConnected
BNNSFilterCreateLayerPooling BNNSFilterCreateLayerActivation BNNSFilterCreateLayerLoss
BNNSFilterCreateLayerNormalization BNNSFilterCreateLayerArithmetic BNNSFilterCreateLayerPermute
BNNSFilterCreateLayerDropout BNNSFilterCreateLayerPadding BNNSFilterCreateLayerBroadcastMatMul
BNNSFilterCreateLayerTensorContraction BNNSFilterCreateLayerGram BNNSFilterCreateLayerResize
BNNSFilterCreateLayerMultiheadAttention BNNSFilterCreateLayerReduction BNNSFilterCreateLayerEmbedding
BNNSFilterCreateFusedLayer BNNSFilterDestroy BNNSFilterCreateConvolutionLayer BNNSFilterCreateFullyConnectedLayer
BNNSFilterCreatePoolingLayer BNNSFilterCreateVectorActivationLayer BNNSGetPointer
BNNSFilterApply BNNSFilterApplyBatch BNNSFilterApplyTwoInput BNNSFilterApplyTwoInputBatch
BNNSPoolingFilterApplyBatch BNNSPoolingFilterApplyBatchEx BNNSArithmeticFilterApplyBatch
BNNSNormalizationFilterApplyBatch BNNSFusedFilterApplyBatch BNNSFusedFilterApplyMultiInputBatch
BNNSLossFilterApplyBatch BNNSApplyMultiheadAttention
BNNSFilterApplyBackwardBatch BNNSFilterApplyBackwardTwoInputBatch BNNSPoolingFilterApplyBackwardBatch
BNNSPoolingFilterApplyBackwardBatchEx BNNSArithmeticFilterApplyBackwardBatch BNNSNormalizationFilterApplyBackwardBatch
BNNSFusedFilterApplyBackwardBatch BNNSFusedFilterApplyBackwardMultiInputBatch BNNSLossFilterApplyBackwardBatch
BNNSPermuteFilterApplyBackwardBatch BNNSApplyMultiheadAttentionBackward
BNNSOptimizerStep BNNSClipByValue BNNSClipByNorm BNNSClipByGlobalNorm BNNSComputeNorm BNNSComputeNormBackward
BNNSComputeLSTMTrainingCacheCapacity BNNSDirectApplyLSTMBatchTrainingCaching BNNSDirectApplyLSTMBatchBackward
BNNSDirectApplyActivationBatch BNNSDirectApplyQuantizer BNNSDirectApplyReduction BNNSDirectApplyBroadcastMatMul
BNNSMatMul BNNSMatMulWorkspaceSize BNNSDirectApplyTopK BNNSDirectApplyInTopK BNNSCopy BNNSTranspose
BNNSGather BNNSGatherND BNNSScatter BNNSScatterND BNNSTile BNNSTileBackward BNNSCropResize BNNSCropResizeBackward
BNNSShuffle BNNSBandPart BNNSCompareTensor
BNNSCreateRandomGenerator BNNSCreateRandomGeneratorWithSeed BNNSDestroyRandomGenerator BNNSRandomGeneratorStateSize
BNNSRandomGeneratorGetState BNNSRandomGeneratorSetState BNNSRandomFillUniformFloat BNNSRandomFillUniformInt
BNNSRandomFillNormalFloat BNNSRandomFillCategoricalFloat
BNNSNDArrayGetDataSize BNNSTensorGetAllocationSize BNNSDataLayoutGetRank
BNNSNDArrayFullyConnectedSparsifySparseCOO BNNSNDArrayFullyConnectedSparsifySparseCSR
BNNSCreateNearestNeighbors BNNSDestroyNearestNeighbors BNNSNearestNeighborsLoad BNNSNearestNeighborsGetInfo
""".split()

README = Path(__file__).resolve().parents[2] / "README.md"


def table() -> dict:
    """{entry point: status} from the README's "Entry points" table."""
    text = README.read_text()
    section = text.split("## Entry points", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`(BNNS\w+)`\s*\|\s*([^|]+?)\s*\|", line)
        if match:
            assert match.group(1) not in rows, f"{match.group(1)} is listed twice"
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_table_lists_every_entry_point_of_the_header_once():
    assert len(HEADER) == len(set(HEADER)) == 97
    assert sorted(table()) == sorted(HEADER)


def test_served_means_the_sdk_has_it_and_the_count_is_right():
    rows = table()
    served = {name for name, status in rows.items() if status.startswith("served")}
    for name in HEADER:
        has = callable(getattr(bnns, name, None))
        assert has == (name in served), f"{name}: README says {rows[name]!r}, the SDK {'has' if has else 'lacks'} it"
    heading = README.read_text().split("## Entry points", 1)[1].split("\n", 2)[1:3]
    assert f"{len(served)} of the 97" in " ".join(heading), heading
