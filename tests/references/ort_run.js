// ort_run.js — runs ONNX files in ONNX Runtime (the onnxruntime-node npm package, CPU) on
// raw float32 inputs and writes the raw float32 outputs, for the export tests.
//   NODE_PATH=<dir>/node_modules node ort_run.js MANIFEST.json
// The manifest lists {"onnx", "input", "shape": [N, C, H, W], "output"}; one JSON line per
// entry comes back: its output dims, or the error ONNX Runtime gave.
const ort = require('onnxruntime-node');
const fs = require('fs');

async function run(job) {
  const bytes = fs.readFileSync(job.input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(job.onnx, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, job.shape) });
  const out = result[session.outputNames[0]];
  fs.writeFileSync(job.output, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  return { onnx: job.onnx, inputs: session.inputNames, outputs: session.outputNames, dims: out.dims };
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) {
    try {
      console.log(JSON.stringify(await run(job)));
    } catch (e) {
      console.log(JSON.stringify({ onnx: job.onnx, error: String(e.message || e) }));
    }
  }
}

main().catch((e) => { console.error('ort_run: ' + e.message); process.exit(1); });
