#!/usr/bin/env node
import { runCli } from './run.js';

runCli(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`gateway: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
