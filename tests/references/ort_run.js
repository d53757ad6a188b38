// ort_run.js — runs an ONNX file in ONNX Runtime (the onnxruntime-node npm package, CPU)
// on raw float32 input and writes the raw float32 output, for the export tests.
//   NODE_PATH=<dir>/node_modules node ort_run.js MODEL.onnx INPUT.f32 N,C,H,W OUTPUT.f32
// Prints the output's shape as JSON.
const ort = require('onnxruntime-node');
const fs = require('fs');

async function main() {
  const [file, input, shapeText, output] = process.argv.slice(2);
  const shape = shapeText.split(',').map(Number);
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, shape) });
  const out = result[session.outputNames[0]];
  fs.writeFileSync(output, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
  console.log(JSON.stringify({ inputs: session.inputNames, outputs: session.outputNames, dims: out.dims }));
}

main().catch((e) => { console.error('ort_run: ' + e.message); process.exit(1); });
