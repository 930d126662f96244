#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (no build step). `npm run`/`npx` put the project's
// Node 22 (the `node` devDependency) first on PATH, matching the Lambda runtime.
//
// Heap growth: V8 lets the old generation grow to up to 4× what survived the last full collection
// before it collects again. A local run hosts every worker in this process and produces garbage
// quickly, so its peak was mostly uncollected garbage (100k rows: 711 MiB peak RSS for ~140 MiB
// live). 2× (a growing factor, not a limit: a large partition still gets the heap it needs) halved
// the peak at the same speed (measured; see README, Performance). CRM_SYNC_HEAP_GROWING_PERCENT
// overrides (0: V8's default; empty: unset).
const growing = process.env.CRM_SYNC_HEAP_GROWING_PERCENT || '100';
if (!/^\d+$/.test(growing)) {
  process.stderr.write(`crm-sync: CRM_SYNC_HEAP_GROWING_PERCENT must be a whole number, got "${growing}"\n`);
  process.exit(2);
}
if (growing !== '0') require('node:v8').setFlagsFromString(`--heap-growing-percent=${growing}`);
require('tsx/cjs');
require('./crm-sync.ts');
