#!/usr/bin/env node
// Entry point of `skiff`: runs the command, and turns any failure into one clear message and exit code 1.
import { describeFailure } from './failure.js';
import { buildProgram } from './program.js';
import { processIo } from './session.js';
import { printable } from './views/output.js';

try {
  await buildProgram(processIo).parseAsync(process.argv);
} catch (err) {
  // The message may quote what a device sent (its name, a service's): shown, never acted on by the terminal.
  process.stderr.write(`error: ${printable(describeFailure(err), '\n')}\n`);
  process.exitCode = 1;
}
