"""Tests for bnns.kernels.layout: BNNSNDArrayDescriptor <-> NumPy (bnns.md 1.1-1.3, 6.5).

ADDRESS_CASES holds, for each kind of layout, BNNS's element-address formula from bnns.md 1.2
written out by hand; Descriptor.tensor and read_batch must read every element from exactly that
address, with default and with padded (explicit) strides, and with batch strides larger than
an item. Error inputs each raise InvalidArgumentError with the phrase that names the problem.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Tuple

import numpy as np
import pytest

from bnns.kernels.errors import InvalidArgumentError
from bnns.kernels.layout import (
    DTYPE_FLOAT16, DTYPE_FLOAT32, DTYPE_INT32, DTYPE_UINT64, LAYOUT_1D_FIRST_MAJOR, LAYOUT_2D_FIRST_MAJOR,
    LAYOUT_2D_LAST_MAJOR, LAYOUT_3D_FIRST_MAJOR, LAYOUT_3D_LAST_MAJOR, LAYOUT_COLUMN_MAJOR_MATRIX,
    LAYOUT_CONV_WEIGHTS_IOHRWR, LAYOUT_CONV_WEIGHTS_OIHW, LAYOUT_CONV_WEIGHTS_OIHW_PACK32, LAYOUT_IMAGE_CHW,
    LAYOUT_ROW_MAJOR_MATRIX, LAYOUT_VECTOR, Descriptor, pack, read_batch)

LAYOUT_4D_FIRST_MAJOR = 0x48001
LAYOUT_5D_LAST_MAJOR = 0x58000


# ============================================================================ shapes
SHAPE_CASES = [
    # (layout, size, logical NumPy shape): natural layouts reverse size, FirstMajor keep it.
    pytest.param(LAYOUT_VECTOR, (7,), (7,), id="Vector"),
    pytest.param(LAYOUT_1D_FIRST_MAJOR, (7,), (7,), id="1DFirstMajor"),
    pytest.param(LAYOUT_ROW_MAJOR_MATRIX, (5, 2), (2, 5), id="RowMajorMatrix-cols-rows"),
    pytest.param(LAYOUT_COLUMN_MAJOR_MATRIX, (5, 2), (2, 5), id="ColumnMajorMatrix"),
    pytest.param(LAYOUT_2D_LAST_MAJOR, (5, 2), (2, 5), id="2DLastMajor"),
    pytest.param(LAYOUT_2D_FIRST_MAJOR, (5, 2), (5, 2), id="2DFirstMajor"),
    pytest.param(LAYOUT_IMAGE_CHW, (4, 3, 2), (2, 3, 4), id="ImageCHW-WHC-to-CHW"),
    pytest.param(LAYOUT_3D_LAST_MAJOR, (2, 3, 4), (4, 3, 2), id="3DLastMajor"),
    pytest.param(LAYOUT_3D_FIRST_MAJOR, (2, 3, 4), (2, 3, 4), id="3DFirstMajor-keeps-order"),
    pytest.param(LAYOUT_CONV_WEIGHTS_OIHW, (3, 2, 4, 5), (5, 4, 2, 3), id="ConvWeightsOIHW"),
    pytest.param(LAYOUT_CONV_WEIGHTS_IOHRWR, (3, 2, 5, 4), (4, 5, 2, 3), id="ConvWeightsIOHrWr"),
    pytest.param(LAYOUT_4D_FIRST_MAJOR, (2, 3, 4, 5), (2, 3, 4, 5), id="4DFirstMajor"),
    pytest.param(LAYOUT_5D_LAST_MAJOR, (2, 3, 4, 5, 6), (6, 5, 4, 3, 2), id="5DLastMajor"),
]


@pytest.mark.parametrize("layout, size, shape", SHAPE_CASES)
def test_shape_is_reversed_size_for_natural_layouts_and_size_for_first_major(layout, size, shape):
    desc = Descriptor(layout, size)
    assert desc.shape == shape
    assert desc.rank == len(size)
    assert desc.element_count == int(np.prod(size))


@pytest.mark.parametrize("layout, size, shape", SHAPE_CASES)
def test_for_shape_round_trips_the_logical_shape(layout, size, shape):
    desc = Descriptor.for_shape(layout, shape)
    assert desc.size == size
    assert desc.shape == shape


def test_trailing_zero_sizes_beyond_the_rank_are_allowed():
    # BNNS's size[8] leaves unused entries 0.
    assert Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2, 0, 0, 0, 0, 0)).shape == (2, 3, 4)


DEFAULT_STRIDE_CASES = [
    # (layout, size, memory strides stride[0..n-1]): stride[0] = 1, stride[k] = stride[k-1] * extent
    # of memory dimension k-1, where the memory order is size's for natural layouts and reversed
    # for FirstMajor (bnns.md 1.2: "stride[0]=1, stride[1]=size[n-1], ...").
    pytest.param(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 4, 12), id="ImageCHW"),
    pytest.param(LAYOUT_3D_LAST_MAJOR, (2, 3, 4), (1, 2, 6), id="3DLastMajor"),
    pytest.param(LAYOUT_3D_FIRST_MAJOR, (2, 3, 4), (1, 4, 12), id="3DFirstMajor"),
    pytest.param(LAYOUT_2D_FIRST_MAJOR, (5, 2), (1, 2), id="2DFirstMajor"),
    pytest.param(LAYOUT_ROW_MAJOR_MATRIX, (5, 2), (1, 5), id="RowMajorMatrix"),
]


@pytest.mark.parametrize("layout, size, strides", DEFAULT_STRIDE_CASES)
def test_default_strides_are_contiguous_in_memory_order(layout, size, strides):
    desc = Descriptor(layout, size)
    assert desc.memory_strides() == strides
    assert desc.numpy_strides == tuple(reversed(strides))
    assert desc.span == int(np.prod(size))
    assert desc.is_contiguous
    data = np.arange(desc.span, dtype=np.float32)
    np.testing.assert_array_equal(dataclasses.replace(desc, data=data).tensor(), data.reshape(desc.shape))


def test_zero_stride_entries_take_the_default_after_an_explicit_one():
    # stride (0, 10, 0) for ImageCHW (W 4, H 3, C 2): x step 1, y step 10, c step 10 * H = 30.
    assert Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (0, 10, 0)).memory_strides() == (1, 10, 30)


# ============================================================================ addresses
@dataclasses.dataclass(frozen=True)
class AddressCase:
    """A descriptor with padded strides and BNNS's address of the element at a NumPy index,
    written from the bnns.md 1.2 formula (the NumPy index is reversed(BNNS index) for natural
    layouts and the BNNS index itself for FirstMajor)."""

    id: str
    layout: int
    size: Tuple[int, ...]
    stride: Tuple[int, ...]
    address: Callable[..., int]


ADDRESS_CASES = [
    # Vector: i * s0.
    AddressCase("Vector", LAYOUT_VECTOR, (5,), (2,), lambda i: 2 * i),
    # RowMajorMatrix size (cols 5, rows 2): (row, col) at col s0 + row s1.
    AddressCase("RowMajorMatrix", LAYOUT_ROW_MAJOR_MATRIX, (5, 2), (1, 7), lambda row, col: col + 7 * row),
    # ColumnMajorMatrix size (rows 3, cols 4): (row, col) at row s0 + col s1; NumPy index (col, row).
    AddressCase("ColumnMajorMatrix", LAYOUT_COLUMN_MAJOR_MATRIX, (3, 4), (1, 5), lambda col, row: row + 5 * col),
    # 2DFirstMajor size (i 3, j 4): (i, j) at j s0 + i s1.
    AddressCase("2DFirstMajor", LAYOUT_2D_FIRST_MAJOR, (3, 4), (1, 6), lambda i, j: j + 6 * i),
    # ImageCHW size (W 4, H 3, C 2): (x, y, c) at x s0 + y s1 + c s2; NumPy index (c, y, x).
    AddressCase("ImageCHW", LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 6, 20), lambda c, y, x: x + 6 * y + 20 * c),
    # 3DLastMajor: (i, j, k) at i s0 + j s1 + k s2; NumPy index (k, j, i).
    AddressCase("3DLastMajor", LAYOUT_3D_LAST_MAJOR, (2, 3, 4), (1, 3, 10), lambda k, j, i: i + 3 * j + 10 * k),
    # 3DFirstMajor: (i, j, k) at k s0 + j s1 + i s2; NumPy index (i, j, k).
    AddressCase("3DFirstMajor", LAYOUT_3D_FIRST_MAJOR, (2, 3, 4), (1, 5, 17), lambda i, j, k: k + 5 * j + 17 * i),
    # ConvolutionWeightsOIHW size (kW 3, kH 2, I 2, O 2): (kx, ky, i, o) at kx s0 + ky s1 + i s2 + o s3.
    AddressCase("ConvWeightsOIHW", LAYOUT_CONV_WEIGHTS_OIHW, (3, 2, 2, 2), (1, 4, 9, 20),
                lambda o, i, ky, kx: kx + 4 * ky + 9 * i + 20 * o),
    # 4DFirstMajor: last index x s0 ... first index x s3.
    AddressCase("4DFirstMajor", LAYOUT_4D_FIRST_MAJOR, (2, 2, 3, 2), (1, 3, 10, 30),
                lambda a, b, c, d: d + 3 * c + 10 * b + 30 * a),
    # Non-unit innermost stride: every other element.
    AddressCase("ImageCHW-stride0-2", LAYOUT_IMAGE_CHW, (3, 2, 2), (2, 7, 15), lambda c, y, x: 2 * x + 7 * y + 15 * c),
]
ADDRESS_PARAMS = [pytest.param(c, id=c.id) for c in ADDRESS_CASES]


def _span(case: AddressCase) -> int:
    desc = Descriptor(case.layout, case.size, case.stride)
    return 1 + max(case.address(*index) for index in np.ndindex(desc.shape))


@pytest.mark.parametrize("case", ADDRESS_PARAMS)
def test_tensor_reads_each_element_at_the_bnns_address(case):
    span = _span(case)
    data = np.arange(span, dtype=np.float32)          # each element holds its own address
    desc = Descriptor(case.layout, case.size, case.stride, data=data)
    assert desc.span == span
    assert not desc.is_contiguous
    got = desc.tensor()
    assert got.dtype == np.float32 and got.shape == desc.shape
    for index in np.ndindex(desc.shape):
        assert got[index] == case.address(*index), index


@pytest.mark.parametrize("case", ADDRESS_PARAMS)
def test_read_batch_reads_item_b_at_b_times_batch_stride(case):
    span = _span(case)
    batch, batch_stride = 3, span + 4                 # 4 unused elements between items
    flat = np.arange(batch * batch_stride, dtype=np.float32)
    desc = Descriptor(case.layout, case.size, case.stride)
    got = read_batch(flat, desc, batch, batch_stride)
    assert got.shape == (batch,) + desc.shape
    for b in range(batch):
        for index in np.ndindex(desc.shape):
            assert got[(b,) + index] == b * batch_stride + case.address(*index), (b, index)


def test_read_batch_with_stride_zero_reads_packed_items():
    desc = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2))
    flat = np.arange(3 * 24, dtype=np.float32)
    np.testing.assert_array_equal(read_batch(flat, desc, 3, 0), flat.reshape(3, 2, 3, 4))


def test_read_batch_does_not_copy_float32():
    desc = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 5, 0))
    flat = np.zeros(2 * desc.span, np.float32)
    assert np.shares_memory(read_batch(flat, desc, 2, desc.span), flat)


def test_read_batch_of_one_item_accepts_a_buffer_of_exactly_its_span():
    desc = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 6, 20))
    flat = np.arange(desc.span, dtype=np.float32)
    expected = dataclasses.replace(desc, data=flat).tensor()[None]
    np.testing.assert_array_equal(read_batch(flat, desc, 1, 0), expected)
    np.testing.assert_array_equal(read_batch(flat, desc, 1, desc.span + 10), expected)


def test_read_batch_of_one_item_ignores_a_stride_smaller_than_the_item():
    desc = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 6, 20))
    flat = np.arange(desc.span, dtype=np.float32)
    expected = dataclasses.replace(desc, data=flat).tensor()[None]
    np.testing.assert_array_equal(read_batch(flat, desc, 1, 1), expected)




def _strided_or_rejected(read):
    """Either the view's own elements or an InvalidArgumentError; never other memory."""
    base = np.arange(48, dtype=np.float32)
    try:
        got = read(base[::2])
    except InvalidArgumentError:
        return
    np.testing.assert_array_equal(got.reshape(-1)[:4], base[::2][:4])


def test_tensor_of_a_non_contiguous_buffer_reads_its_elements_or_rejects_it():
    _strided_or_rejected(lambda flat: Descriptor(LAYOUT_VECTOR, (4,), data=flat).tensor())


def test_read_batch_of_a_non_contiguous_buffer_reads_its_elements_or_rejects_it():
    _strided_or_rejected(lambda flat: read_batch(flat, Descriptor(LAYOUT_VECTOR, (4,)), 6, 0))


# ============================================================================ float16, pack
def test_float16_tensor_converts_to_float32():
    values = np.array([[0.5, -1.25, 3.0], [65504.0, 2.0 ** -24, -0.0]], np.float16)   # incl. max and tiny
    desc = Descriptor.for_shape(LAYOUT_ROW_MAJOR_MATRIX, values.shape, values, data_type=DTYPE_FLOAT16)
    assert desc.data is not None and desc.data.dtype == np.float16
    got = desc.tensor()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.astype(np.float32))


def test_float16_read_batch_converts_to_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 3, 4)).astype(np.float16)
    desc = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), data_type=DTYPE_FLOAT16)
    got = read_batch(x.reshape(-1), desc, 2, 0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float32))


PACK_CASES = [
    pytest.param(DTYPE_FLOAT32, np.dtype("<f4"), id="Float32"),
    pytest.param(DTYPE_FLOAT16, np.dtype("<f2"), id="Float16"),
]


@pytest.mark.parametrize("data_type, dtype", PACK_CASES)
def test_pack_round_trips_through_read_batch(data_type, dtype):
    rng = np.random.default_rng(2)
    # Values exact in float16 (multiples of 1/8 below 16), so both round trips are exact.
    x = (np.round(rng.standard_normal((3, 2, 3, 4)) * 8) / 8).astype(np.float32)
    desc = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), data_type=data_type)
    packed = pack(x[:, :, :, ::-1][:, :, :, ::-1], data_type)      # a non-contiguous view in
    assert packed.dtype == dtype and packed.flags.c_contiguous
    np.testing.assert_array_equal(read_batch(packed.reshape(-1), desc, 3, 0), x)


def test_pack_keeps_index_types():
    idx = np.array([0, 5, 2**40], np.int64)
    packed = pack(idx, DTYPE_UINT64)
    assert packed.dtype == np.dtype("<u8")
    np.testing.assert_array_equal(packed, idx)


# ============================================================================ errors
IMAGE = Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2))          # span 24


def _validate(desc):
    return lambda: desc.validate("i_desc")


def _tensor(desc):
    return lambda: desc.tensor("w_desc")


def _read(flat, batch_size, batch_stride, desc=IMAGE):
    return lambda: read_batch(flat, desc, batch_size, batch_stride, "in")


LAYOUT_ERRORS = [
    pytest.param(lambda: Descriptor(0x12345, (2,)).shape, "unknown data layout 0x12345", id="unknown-layout"),
    pytest.param(_validate(Descriptor(LAYOUT_CONV_WEIGHTS_OIHW_PACK32, (3, 3, 2, 2))),
                 r"ConvolutionWeightsOIHW_Pack32 \(0x40010\) is an opaque .* not supported", id="Pack32"),
    pytest.param(_validate(Descriptor(LAYOUT_IMAGE_CHW, (4, 3))),
                 "i_desc.size has 2 entries but layout 0x30000 has rank 3", id="rank-mismatch-short"),
    pytest.param(_validate(Descriptor(LAYOUT_VECTOR, (3, 2))),
                 r"i_desc.size \(3, 2\) sets dimensions beyond the layout's rank 1", id="rank-mismatch-long"),
    pytest.param(_validate(Descriptor(LAYOUT_VECTOR, (3,), (1, 4))),
                 r"i_desc.stride \(1, 4\) sets dimensions beyond the layout's rank 1", id="stride-beyond-rank"),
    pytest.param(_validate(Descriptor(LAYOUT_IMAGE_CHW, (4, 0, 2))),
                 r"i_desc.size \(4, 0, 2\) has a zero dimension", id="zero-dimension"),
    pytest.param(_validate(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 3, 0))),
                 r"stride\[1\] = 3 is smaller than the extent 4 .*strides must not alias", id="aliasing-strides"),
    pytest.param(_validate(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 4, 11))),
                 r"stride\[2\] = 11 is smaller than the extent 12", id="aliasing-planes"),
    pytest.param(_validate(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2, 0, 0, 0, 0, 0, 0))),
                 "i_desc has more than 8 dimensions", id="more-than-8-dimensions"),
    pytest.param(_tensor(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), data=np.zeros(23, np.float32))),
                 r"w_desc.data has 23 elements; .* needs 24", id="tensor-buffer-too-short"),
    pytest.param(_tensor(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), (1, 5, 0), data=np.zeros(28, np.float32))),
                 r"w_desc.data has 28 elements; .* with strides \(1, 5, 15\) needs 29", id="tensor-strided-too-short"),
    pytest.param(_tensor(IMAGE), "w_desc has no data", id="tensor-without-data"),
    pytest.param(_tensor(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), data=np.zeros(24))),
                 "w_desc.data holds float64, expected float32", id="tensor-wrong-dtype"),
    pytest.param(_tensor(Descriptor(LAYOUT_IMAGE_CHW, (4, 3, 2), data_type=DTYPE_INT32, data=np.zeros(24, np.int32))),
                 "w_desc.data_type 0x20020 is not supported here", id="tensor-int32"),
    pytest.param(_read(np.zeros(71, np.float32), 3, 0),
                 "in has 71 elements but batch_size 3 with in_stride 24 and items of 24 elements needs 72",
                 id="buffer-too-short"),
    pytest.param(_read(np.zeros(83, np.float32), 3, 30),
                 "in has 83 elements but batch_size 3 with in_stride 30 and items of 24 elements needs 84",
                 id="buffer-too-short-strided"),
    pytest.param(_read(np.zeros(73, np.float32), 3, 0),
                 r"in has 73 elements, more than batch_size 3 x in_stride 24 = 72", id="buffer-too-long"),
    pytest.param(_read(np.zeros(91, np.float32), 3, 30),
                 r"in has 91 elements, more than batch_size 3 x in_stride 30 = 90", id="buffer-too-long-strided"),
    pytest.param(_read(np.zeros(60, np.float32), 3, 20),
                 r"in_stride 20 is smaller than one item \(24 elements", id="overlapping-items"),
    pytest.param(_read(np.zeros(0, np.float32), 0, 0), "batch_size 0 must be between 1", id="batch-size-0"),
    pytest.param(_read(np.zeros(72), 3, 0), "in holds float64, expected float32", id="wrong-dtype"),
    pytest.param(_read(np.zeros(72, np.float32), 3, 0, dataclasses.replace(IMAGE, data_type=DTYPE_FLOAT16)),
                 "in holds float32, expected float16", id="float32-buffer-for-float16"),
    pytest.param(_read(np.zeros(72, np.int32), 3, 0, dataclasses.replace(IMAGE, data_type=DTYPE_INT32)),
                 "in data_type 0x20020 is not supported here", id="read-int32"),
    pytest.param(lambda: pack(np.zeros(3), 0x99), "data_type 0x99 is not supported", id="pack-unknown-type"),
]


@pytest.mark.parametrize("call, phrase", LAYOUT_ERRORS)
def test_layout_error(call, phrase):
    with pytest.raises(InvalidArgumentError, match=phrase):
        call()
