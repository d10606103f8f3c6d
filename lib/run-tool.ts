// Running a command-line tool (zstd, xdelta3, ...) to completion: its stdout is not wanted, the tail of its stderr
// goes into the error, since that is where such tools say what went wrong.
import { spawn } from 'node:child_process';

/** How much of a failing tool's stderr an error keeps. */
const STDERR_TAIL_CHARS = 2000;

/** Runs `command args`; rejects with `what`, the command and the end of its stderr when it fails or cannot start. */
export function runTool(command: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    child.on('error', (err) => reject(new Error(`${what}: cannot start ${command}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${what}: ${command} ${signal === null ? `exited ${code}` : `was killed by ${signal}`}: ${stderr.trim()}`,
          ),
        );
    });
  });
}
