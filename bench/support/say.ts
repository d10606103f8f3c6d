// Benches print readable lines on stdout as they go, and one JSON line at the end for the machine.

export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
