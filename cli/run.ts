// Runs one `skiff` command line and turns any failure into one message (with --json, one problem+json object) on
// stderr; answers the exit code README.md documents. main.ts runs it for the process; a test may run it in-process
// with an Io of its own, since everything the CLI prints goes through the Io.
import { CommanderError } from 'commander';
import { EXIT, failureOutput, wantsJson } from './failure.js';
import { buildProgram, runningCommand } from './program.js';
import type { Io } from './session.js';
import { printable } from './views/output.js';

/** Runs `args` (what follows `skiff` on the command line); resolves to the exit code. */
export async function runSkiff(args: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(args, { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version'))
      return EXIT.ok;
    // A command that needs a subcommand was given none: commander has shown its help on stderr.
    if (err instanceof CommanderError && err.code === 'commander.help') return EXIT.usage;
    const { exitCode, stderr } = failureOutput(err, {
      json: wantsJson(args),
      debug: Boolean(io.env.SKIFF_DEBUG),
      command: runningCommand(program),
    });
    // The message may quote what a device sent (its name, a service's): shown, never acted on by the terminal.
    // JSON is already exact (toJson escapes control characters).
    io.stderr(wantsJson(args) ? stderr : printable(stderr, '\n'));
    return exitCode;
  }
}
