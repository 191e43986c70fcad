// Parse a Chrome Trace Event JSON file with two independent JavaScript trace
// models and print what they saw, as one JSON line, for
// profiler/tests/go_tools.rs (`trace_json_parses_with_js_trace_models`):
//
//   node check_trace.mjs NODE_PREFIX TRACE.json
//
// * @paulirish/trace_engine — the Chrome DevTools performance panel's trace
//   engine (TraceModel with all handlers);
// * @tracerbench/trace-model — a minimal, strict model (needs `cat` on every
//   event, ignores pid 0, folds tid-0 events into their process).
//
// NODE_PREFIX is the directory the test installed both packages into with
// `npm install --prefix`; nothing is vendored.
import fs from 'node:fs';
import path from 'node:path';

const [prefix, file] = process.argv.slice(2);
const mod = (p) => import(path.join(prefix, 'node_modules', p));
const {analyzeEvents} = await mod('@paulirish/trace_engine/analyze-trace.mjs');
const tracerbench = await mod('@tracerbench/trace-model/dist/index.js');

const events = JSON.parse(fs.readFileSync(file, 'utf8')).traceEvents;
const {parsedTrace} = await analyzeEvents(events);
const meta = parsedTrace.Meta ?? parsedTrace.data?.Meta;
const threadsInProcess = {};
for (const [pid, threads] of meta.threadsInProcess) {
  threadsInProcess[pid] = [...threads.keys()].sort((a, b) => a - b);
}
const buildModel = tracerbench.buildModel ?? tracerbench.default.buildModel;
const model = buildModel(events);
console.log(JSON.stringify({
  engineEvents: parsedTrace.traceEvents.length,
  threadsInProcess,
  tracerbench: model.processes.map((p) => ({
    name: p.name,
    threads: p.threads.map((t) => t.name).filter((n) => n),
  })),
}));
