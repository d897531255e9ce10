// The independent check of `seqdream export --onnx`: ONNX Runtime (npm
// onnxruntime-node) runs an exported file on the series of a UCR file and
// its logits must equal those `seqdream predict --json` printed for the
// same file and model, to REL_TOL relative (max |ort - seqdream| over the
// file / max |seqdream|). The file is run as one batch [N, 1, T]: the
// batch axis (and, for a second length, the time axis) is dynamic.
// Usage: node check.js MODEL.onnx DATA.tsv PREDICT.jsonl NAME
// Prints a TAP-style comment with the figures; exits 1 on a mismatch.
// SPDX-License-Identifier: LGPL-2.1-or-later
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

const REL_TOL = 1e-4;

function readSeries(path) {
  const rows = fs.readFileSync(path, 'utf8').split('\n')
      .map((l) => l.trim()).filter((l) => l.length > 0)
      .map((l) => l.split(/[\s,]+/).slice(1).map(Number));
  const T = rows[0].length;
  if (rows.some((r) => r.length !== T || r.some((v) => !Number.isFinite(v))))
    throw new Error(`${path}: rows of different lengths or not numbers`);
  const x = new Float32Array(rows.length * T);
  rows.forEach((r, i) => x.set(r, i * T));
  return { x, N: rows.length, T };
}

async function main() {
  const [modelPath, dataPath, predPath, name] = process.argv.slice(2);
  const { x, N, T } = readSeries(dataPath);
  const ref = fs.readFileSync(predPath, 'utf8').split('\n')
      .filter((l) => l.length > 0).map((l) => JSON.parse(l).logits);
  if (ref.length !== N)
    throw new Error(`${predPath}: ${ref.length} rows for ${N} series`);
  const session = await ort.InferenceSession.create(modelPath);
  if (session.inputNames.join() !== 'input' ||
      session.outputNames.join() !== 'logits')
    throw new Error(`inputs ${session.inputNames}, outputs ${
      session.outputNames}: expected input -> logits`);
  const out = await session.run({ input: new ort.Tensor('float32', x, [N, 1, T]) });
  const logits = out.logits;
  const K = ref[0].length;
  if (logits.dims.join() !== [N, K].join())
    throw new Error(`logits of shape [${logits.dims}], expected [${N}, ${K}]`);
  let maxDiff = 0, maxRef = 0, agree = 0;
  for (let i = 0; i < N; i++) {
    let a = 0, b = 0;
    for (let k = 0; k < K; k++) {
      const o = logits.data[i * K + k], r = ref[i][k];
      maxDiff = Math.max(maxDiff, Math.abs(o - r));
      maxRef = Math.max(maxRef, Math.abs(r));
      if (o > logits.data[i * K + a]) a = k;
      if (r > ref[i][b]) b = k;
    }
    agree += a === b ? 1 : 0;
  }
  const rel = maxDiff / Math.max(maxRef, 1e-12);
  const ok = rel <= REL_TOL && agree === N;
  console.log(`# ${name}: ${N} series x ${T} samples, ${K} classes: max |ort - ` +
      `seqdream| ${maxDiff.toExponential(3)}, relative ${rel.toExponential(3)}, ` +
      `argmax agrees ${agree}/${N} (onnxruntime ${ort.env.versions.common})`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.log(`# ${e.message}`);
  process.exit(1);
});
