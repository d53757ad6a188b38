// ort_forward.js — ONNX Runtime's CPU forward throughput on an exported torchvision model.
//   NODE_PATH=<cache>/node_modules node bench/ort_forward.js MODEL.onnx NAME BATCH THREADS SECONDS
// prints one JSON line, as the other bench programs do.
const ort = require('onnxruntime-node');
const fs = require('fs');

function rssMb() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const m = status.match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : 0;
}

async function main() {
  const [file, name, batchText, threadsText, secondsText] = process.argv.slice(2);
  const batch = Number(batchText), threads = Number(threadsText), seconds = Number(secondsText);
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const [h, w] = name === 'inception_v3' ? [299, 299] : [224, 224];
  const data = new Float32Array(batch * 3 * h * w).map(() => Math.random() * 2 - 1);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [batch, 3, h, w]) };
  for (let i = 0; i < 3; ++i) await session.run(feeds);
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    await session.run(feeds);
    ++n;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (elapsed < seconds);
  console.log(JSON.stringify({ impl: 'onnxruntime', version: require('onnxruntime-node/package.json').version,
    model: name, batch, threads, images_per_s: n * batch / elapsed, ms_per_batch: 1000 * elapsed / n,
    max_rss_mb: rssMb() }));
}

main().catch((e) => { console.error('ort_forward: ' + e.message); process.exit(1); });
