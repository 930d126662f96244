#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (no build step). `npm run`/`npx` put the project's
// Node 22 (the `node` devDependency) first on PATH, matching the Lambda runtime.
require('tsx/cjs');
require('./crm-sync.ts');
