#!/usr/bin/env node
// Entry point of `skiff`: runs the command and turns any failure into one message (with --json, one problem+json
// object) on stderr and the exit code README.md documents. SKIFF_DEBUG=1 adds the technical account and stack.
import { CommanderError } from 'commander';
import { EXIT, failureOutput, wantsJson } from './failure.js';
import { buildProgram, runningCommand } from './program.js';
import { processIo } from './session.js';
import { printable } from './views/output.js';

const args = process.argv.slice(2);
const program = buildProgram(processIo);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) {
    process.exitCode = EXIT.ok;
  } else if (err instanceof CommanderError && err.code === 'commander.help') {
    // A command that needs a subcommand was given none: commander has shown its help on stderr.
    process.exitCode = EXIT.usage;
  } else {
    const { exitCode, stderr } = failureOutput(err, {
      json: wantsJson(args),
      debug: Boolean(process.env.SKIFF_DEBUG),
      command: runningCommand(program),
    });
    // The message may quote what a device sent (its name, a service's): shown, never acted on by the terminal.
    // JSON is already exact (toJson escapes control characters).
    process.stderr.write(wantsJson(args) ? stderr : printable(stderr, '\n'));
    process.exitCode = exitCode;
  }
}
