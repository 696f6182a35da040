// scripts/test.ts passes the files named on `npm test -- <files>` in TEST_SPEC; otherwise every suite runs.
//
// Test files run in TEST_JOBS worker processes (default 2; TEST_JOBS=1 runs them one after another in this
// process). Each test gateway has its own database and Redis prefix, so files do not share state; most of a
// file's time is spent waiting on processes, the database and timers, so two jobs overlap those waits.
const { readdirSync } = require('node:fs');
const path = require('node:path');

const jobs = Math.max(1, Number(process.env.TEST_JOBS ?? 2));

/** Every *.test.ts under `dir`, skipping dependencies and caches. */
function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ['node_modules', '.cache', 'dist'].includes(entry.name) ? [] : testFiles(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

// The longest files start first, so no job is left running one of them alone at the end.
const LONGEST_FIRST = [
  'test/kernel/soak.test.ts',
  'plugins/mdm/test/crash-recovery.test.ts',
  'plugins/mdm/test/device-races.test.ts',
  'plugins/admin-access/test/api-keys.test.ts',
  'test/kernel/docker-build.test.ts',
  'plugins/mdm/test/fuzz-device-http.test.ts',
  'plugins/mdm/test/command-queue.test.ts',
  'test/kernel/lifecycle.test.ts',
];

function allFiles() {
  const found = ['core', 'plugins', 'test'].flatMap((dir) => testFiles(dir)).sort();
  const first = LONGEST_FIRST.filter((file) => found.includes(file));
  return [...first, ...found.filter((file) => !first.includes(file))];
}

const spec = process.env.TEST_SPEC ? process.env.TEST_SPEC.split(',') : allFiles();

module.exports = {
  spec,
  extension: ['ts'],
  timeout: 20000,
  slow: 1000,
  exit: true,
  ...(jobs > 1 ? { parallel: true, jobs } : {}),
};
