// node ort_run.js MODEL.onnx INPUT.f32 N C H W OUT.f32: runs MODEL.onnx in
// ONNX Runtime (onnxruntime-node, CPU) on N float32 images [N,C,H,W] and
// writes its one output as float32; prints the output's name and dims.
'use strict';
const fs = require('fs');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) { // a missing tool is a failure, never a skip
  console.error('ort_run: cannot load onnxruntime-node (' + e.message.split('\n')[0] + '); run ' +
                'scripts/install-deps.sh --test, or set NODE_PATH to its node_modules');
  process.exit(1);
}

async function main() {
  const [model, input, n, c, h, w, out] = process.argv.slice(2);
  const dims = [n, c, h, w].map(Number);
  const buf = fs.readFileSync(input);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const session = await ort.InferenceSession.create(model, {graphOptimizationLevel: 'disabled'});
  const feeds = {};
  feeds[session.inputNames[0]] = new ort.Tensor('float32', x, dims);
  const result = await session.run(feeds);
  const y = result[session.outputNames[0]];
  fs.writeFileSync(out, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(JSON.stringify({ort: ort.env.versions, input: session.inputNames[0],
                              output: session.outputNames[0], dims: y.dims}));
}
main().catch((e) => { console.error('ort_run: ' + e.message); process.exit(1); });
