// A container's logs as the engine sends them (GET /containers/{id}/logs with timestamps): for a container
// without a TTY, frames of [stream byte, 0, 0, 0, uint32 big-endian length, payload]; with a TTY, raw text that
// is all stdout. Each line starts with its RFC 3339 timestamp and a space.
import type { ContainerLogLine } from './create-options.js';

const HEADER_BYTES = 8;
const STREAMS: Record<number, ContainerLogLine['stream'] | undefined> = { 1: 'stdout', 2: 'stderr' };

function linesOf(text: string, stream: ContainerLogLine['stream']): ContainerLogLine[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => {
    const space = line.indexOf(' ');
    return space < 0
      ? { stream, timestamp: line, text: '' }
      : { stream, timestamp: line.slice(0, space), text: line.slice(space + 1).replace(/\r$/, '') };
  });
}

export function parseLogFrames(body: Buffer, tty: boolean): ContainerLogLine[] {
  if (tty) return linesOf(body.toString('utf8'), 'stdout');
  // Bytes per stream, joined before decoding: a frame boundary may cut a line, even a UTF-8 character.
  const parts: { stream: ContainerLogLine['stream']; bytes: Buffer }[] = [];
  let offset = 0;
  while (offset + HEADER_BYTES <= body.length) {
    const stream = STREAMS[body[offset]!];
    const length = body.readUInt32BE(offset + 4);
    const end = offset + HEADER_BYTES + length;
    if (end > body.length)
      throw new Error(
        `log frame at byte ${offset} claims ${length} bytes, only ${body.length - offset - HEADER_BYTES} follow`,
      );
    if (stream === undefined) throw new Error(`log frame at byte ${offset} has unknown stream type ${body[offset]}`);
    const payload = body.subarray(offset + HEADER_BYTES, end);
    const last = parts.at(-1);
    if (last !== undefined && last.stream === stream && last.bytes.at(-1) !== 0x0a) {
      last.bytes = Buffer.concat([last.bytes, payload]);
    } else {
      parts.push({ stream, bytes: payload });
    }
    offset = end;
  }
  if (offset !== body.length) throw new Error(`log stream ends inside a frame header at byte ${offset}`);
  return parts.flatMap((p) => linesOf(p.bytes.toString('utf8'), p.stream));
}
