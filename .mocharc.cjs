// scripts/test.ts passes the files named on `npm test -- <files>` in TEST_SPEC; otherwise every suite runs.
const spec = process.env.TEST_SPEC
  ? process.env.TEST_SPEC.split(',')
  : ['core/**/*.test.ts', 'plugins/**/test/**/*.test.ts', 'test/**/*.test.ts'];

module.exports = { spec, extension: ['ts'], timeout: 20000, slow: 1000, exit: true };
