#!/usr/bin/env node
// A Node.js client of bnns-rpc: what a non-Python caller does with only the .proto contract.
//
// It loads proto/bnns/v1/service.proto at run time (no generated code), creates a 3x3
// convolution on a 4x4 image, runs it forward and backward on a batch of two, walks the filter's
// lifecycle (describe, list, destroy) and checks two error statuses. Every expected value is
// worked out by hand below, so a wrong server answer (layout, sign, batch handling) shows up.
//
// Usage: node conv_client.js [HOST:PORT]      (default 127.0.0.1:50051)
// Prints "ok - ..." per check and "all checks passed"; exits 1 with the reason on any failure.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'proto');
const TARGET = process.argv[2] || '127.0.0.1:50051';
const TOLERANCE = 1e-5;   // float32 sums of a few small integers: exact in practice
const DEADLINE_MS = 10000;

// Apple's raw enum values (types.proto): the wire carries the numbers.
const DATA_LAYOUT_VECTOR = 0x10000;
const DATA_LAYOUT_IMAGE_CHW = 0x30000;
const DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW = 0x40000;
const DATA_TYPE_FLOAT32 = 0x10020;

// ------------------------------------------------------------------------------- the problem
//
// One input channel, 4x4 image x[r][c] = 4r + c + 1 (1..16 row-major); one output channel;
// 3x3 kernel, stride 1, no padding -> 2x2 output. BNNS convolution is a cross-correlation:
//   y[i][j] = sum_{ky,kx} w[ky][kx] * x[i+ky][j+kx] + bias
const X = Float32Array.from({ length: 16 }, (_, k) => k + 1);
// OIHW weights in C order: O=1, I=1, then row = ky, column = kx.
const W = Float32Array.from([
  -2, 0, 1,
  0, 1, 0,
  -1, -2, 0,
]);
const BIAS = 0.5;

// Expected forward, by hand. Because x[r][c] = 4r + c + 1 is affine in (r, c),
//   y[i][j] = (4i + j + 1) * sum(w) + sum_{ky,kx} w[ky][kx] * (4ky + kx) + bias
// with sum(w) = -2 + 1 + 1 - 1 - 2 = -3 and
//   sum w*(4ky+kx) = [(-2)*0 + 1*2] + [1*5] + [(-1)*8 + (-2)*9] = 2 + 5 - 26 = -19, so
//   y[0][0] = 1*(-3) - 19 + 0.5 = -21.5   (direct: -2*1 + 1*3 + 1*6 - 1*9 - 2*10 = -22, + 0.5)
//   y[0][1] = 2*(-3) - 19 + 0.5 = -24.5
//   y[1][0] = 5*(-3) - 19 + 0.5 = -33.5
//   y[1][1] = 6*(-3) - 19 + 0.5 = -36.5
const Y1 = [-21.5, -24.5, -33.5, -36.5];
// Second batch item = -x. The convolution is linear in x, so y2 = -(y1 - bias) + bias.
const Y2 = Y1.map((v) => -(v - BIAS) + BIAS);   // [22.5, 25.5, 34.5, 37.5]

// Backward input. Not the forward batch (x, -x): its windows cancel, so weights_delta would be
// all zeros and could not tell a right server from one that returns zeros. (x, 2x) instead.
// With out_delta all ones, dL/dw[ky][kx] = sum_b sum_{i,j} in_b[i+ky][j+kx] = 3 * S[ky][kx],
// S = the sum of x over the 2x2 window at (ky, kx) = 4*(4ky + kx + 1) + (0+0+4+4) + (0+1+0+1)
//   = 16ky + 4kx + 14 = [14 18 22; 30 34 38; 46 50 54]   (S[0][0] = 1+2+5+6 = 14, S[2][2] = 11+12+15+16 = 54)
const X_BACKWARD_SCALE = [1, 2];
const WEIGHTS_DELTA = [42, 54, 66, 90, 102, 114, 138, 150, 162];
// dL/dbias = number of outputs over the batch = 2 items * 4 outputs.
const BIAS_DELTA = 8;

// ---------------------------------------------------------------------------------- helpers

function f32Bytes(values) {
  const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
  // A Buffer over the array's memory: little-endian on every platform Node runs on here (x86, arm64).
  return Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength);
}

function readF32(buffer, what) {
  const bytes = buffer && buffer.data;
  if (!Buffer.isBuffer(bytes)) {
    throw new Error(`${what}: response Buffer has no raw data (contents: ${buffer && buffer.contents})`);
  }
  if (bytes.length % 4 !== 0) {
    throw new Error(`${what}: ${bytes.length} bytes is not a whole number of float32`);
  }
  // A Float32Array view needs a 4-aligned offset; protobuf slices need not be, so copy then.
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
  return Array.from(new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4));
}

function checkClose(what, got, want) {
  if (got.length !== want.length) {
    throw new Error(`${what}: got ${got.length} values [${got}], want ${want.length} [${want}]`);
  }
  for (let k = 0; k < want.length; k++) {
    if (!(Math.abs(got[k] - want[k]) <= TOLERANCE)) {
      throw new Error(`${what}: element ${k} is ${got[k]}, want ${want[k]} (got [${got}], want [${want}])`);
    }
  }
  ok(what);
}

function check(what, condition, detail) {
  if (!condition) throw new Error(`${what}: ${detail}`);
  ok(what);
}

function ok(what) {
  console.log(`ok - ${what}`);
}

// The full correlation of out_delta (oh x ow) with the kernel (kh x kw): dL/dx for a valid
// cross-correlation, computed naively.
function inputGradient(outDelta, oh, ow, w, kh, kw) {
  const ih = oh + kh - 1;
  const iw = ow + kw - 1;
  const d = new Array(ih * iw).fill(0);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          d[(i + ky) * iw + (j + kx)] += w[ky * kw + kx] * outDelta[i * ow + j];
        }
      }
    }
  }
  return d;
}

// Calls a unary RPC and resolves with its response (rejects with the grpc ServiceError).
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + DEADLINE_MS }, (err, response) => {
      if (err) reject(err);
      else resolve(response);
    });
  });
}

// Calls a unary RPC that must fail with `code`; returns the error.
async function expectStatus(client, method, request, code) {
  try {
    const response = await call(client, method, request);
    throw new Error(`${method} succeeded (${JSON.stringify(response)}), want gRPC status ${code}`);
  } catch (err) {
    if (err.code === undefined) throw err;
    if (err.code !== code) {
      throw new Error(`${method}: gRPC status ${err.code} (${err.details}), want ${code}`);
    }
    return err;
  }
}

function convolutionRequest(outputSize) {
  return {
    convolution: {
      i_desc: { layout: DATA_LAYOUT_IMAGE_CHW, size: [4, 4, 1], data_type: DATA_TYPE_FLOAT32 },   // (W, H, C)
      o_desc: { layout: DATA_LAYOUT_IMAGE_CHW, size: outputSize, data_type: DATA_TYPE_FLOAT32 },
      w_desc: {
        layout: DATA_LAYOUT_CONVOLUTION_WEIGHTS_OIHW,
        size: [3, 3, 1, 1],   // (kW, kH, C_in, C_out)
        data_type: DATA_TYPE_FLOAT32,
        data: { data: f32Bytes(W) },
      },
      bias: {
        layout: DATA_LAYOUT_VECTOR,
        size: [1],
        data_type: DATA_TYPE_FLOAT32,
        data: { data: f32Bytes([BIAS]) },
      },
    },
  };
}

// --------------------------------------------------------------------------------- the run

async function main() {
  const definition = protoLoader.loadSync(path.join(PROTO_DIR, 'bnns', 'v1', 'service.proto'), {
    keepCase: true,
    longs: Number,
    enums: Number,
    defaults: true,
    oneofs: true,
    includeDirs: [PROTO_DIR],
  });
  const { BNNSService } = grpc.loadPackageDefinition(definition).bnns.v1;
  const client = new BNNSService(TARGET, grpc.credentials.createInsecure());
  try {
    await run(client);
  } finally {
    client.close();
  }
}

async function run(client) {
  // CreateFilter.
  const created = await call(client, 'CreateFilter', convolutionRequest([2, 2, 1]));
  const id = created.filter_id;
  check('CreateFilter returns a filter id', typeof id === 'string' && id.length > 0, `filter_id ${JSON.stringify(id)}`);

  // FilterApplyBatch: batch of 2, items packed back to back (stride 0 = packed).
  const batch = new Float32Array(32);
  batch.set(X, 0);
  batch.set(X.map((v) => -v), 16);
  const forward = await call(client, 'FilterApplyBatch', {
    filter_id: id, batch_size: 2, in: { data: f32Bytes(batch), stride: 0 },
  });
  const out = readF32(forward.out, 'FilterApplyBatch out');
  checkClose('forward item 1 matches the hand-computed 2x2 output', out.slice(0, 4), Y1);
  checkClose('forward item 2 = -(y1 - bias) + bias (linearity and bias)', out.slice(4), Y2);

  // FilterApplyBackwardBatch on (x, 2x) with dL/dy = 1 everywhere.
  const backwardIn = new Float32Array(32);
  X_BACKWARD_SCALE.forEach((scale, b) => backwardIn.set(X.map((v) => scale * v), 16 * b));
  const ones = new Array(8).fill(1);
  const backward = await call(client, 'FilterApplyBackwardBatch', {
    filter_id: id,
    batch_size: 2,
    in: { data: f32Bytes(backwardIn) },
    out_delta: { data: f32Bytes(ones) },
    compute_in_delta: true,
    compute_weights_delta: true,
    compute_bias_delta: true,
  });
  checkClose('bias_delta = 2 items x 4 outputs = 8', readF32(backward.bias_delta, 'bias_delta'), [BIAS_DELTA]);
  checkClose('weights_delta = sum over the batch of the input windows',
    readF32(backward.weights_delta, 'weights_delta'), WEIGHTS_DELTA);
  const inDelta = readF32(backward.in_delta, 'in_delta');
  const expectedItem = inputGradient(ones.slice(0, 4), 2, 2, W, 3, 3);
  // Hand spot checks of the loop itself: corner (0,0) sees only w[0][0] = -2; (1,1) sees
  // w[1][1] + w[1][0] + w[0][1] + w[0][0] = 1 + 0 + 0 - 2 = -1.
  checkClose('the reference full correlation agrees with hand values', [expectedItem[0], expectedItem[5]], [-2, -1]);
  checkClose('in_delta = full correlation of out_delta with the kernel (both items)',
    inDelta, expectedItem.concat(expectedItem));

  // DescribeFilter / ListFilters.
  const described = await call(client, 'DescribeFilter', { filter_id: id });
  check('DescribeFilter names the filter and its kind',
    described.info.filter_id === id && described.info.kind === 'convolution',
    `info ${JSON.stringify({ filter_id: described.info.filter_id, kind: described.info.kind })}`);
  check('DescribeFilter lists the 9 weights as trainable', described.info.trainable.weights === 9,
    `trainable ${JSON.stringify(described.info.trainable)}`);
  const listed = await call(client, 'ListFilters', {});
  const ids = listed.filters.map((f) => f.filter_id);
  check('ListFilters contains the filter', ids.includes(id), `ids ${JSON.stringify(ids)}`);

  // DestroyFilter: the handle is gone afterwards.
  await call(client, 'DestroyFilter', { filter_id: id });
  ok('DestroyFilter');
  const listedAfter = await call(client, 'ListFilters', {});
  check('ListFilters no longer contains the filter', !listedAfter.filters.some((f) => f.filter_id === id),
    `filter ${id} still listed`);
  await expectStatus(client, 'FilterApplyBatch',
    { filter_id: id, batch_size: 2, in: { data: f32Bytes(batch) } }, grpc.status.NOT_FOUND);
  ok('FilterApplyBatch on a destroyed filter fails with NOT_FOUND');

  // A bad request: o_desc 3x3 where a 3x3 kernel on 4x4 without padding gives 2x2.
  const err = await expectStatus(client, 'CreateFilter', convolutionRequest([3, 3, 1]), grpc.status.INVALID_ARGUMENT);
  check('a wrong o_desc size fails with INVALID_ARGUMENT saying "does not match"',
    String(err.details).includes('does not match'), `details ${JSON.stringify(err.details)}`);

  console.log('all checks passed');
}

main().catch((err) => {
  console.error(`not ok - ${err.message || err}`);
  process.exitCode = 1;
});
