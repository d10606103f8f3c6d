#!/usr/bin/env node
// Entry point of `skiff`: runs the command line (run.ts) with the process's output, environment and clock, and
// leaves with its exit code. SKIFF_DEBUG=1 adds the technical account and stack to a failure.
import { runSkiff } from './run.js';
import { processIo } from './session.js';

const code = await runSkiff(process.argv.slice(2), processIo);
// A command that succeeds may still pass on a code of its own (`skiff ssh` exits as the remote command did).
process.exitCode = code === 0 ? (process.exitCode ?? 0) : code;
