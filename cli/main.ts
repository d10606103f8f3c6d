#!/usr/bin/env node
// Entry point of `skiff`: runs the command, and turns any failure into one clear message and exit code 1.
import { describeFailure } from './failure.js';
import { buildProgram } from './program.js';
import { processIo } from './session.js';

try {
  await buildProgram(processIo).parseAsync(process.argv);
} catch (err) {
  process.stderr.write(`error: ${describeFailure(err)}\n`);
  process.exitCode = 1;
}
