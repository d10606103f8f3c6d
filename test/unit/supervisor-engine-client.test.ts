import assert from 'node:assert/strict';
import { engineAddress } from '../../supervisor/engine/client.js';
import { parseLogFrames } from '../../supervisor/engine/log-frames.js';

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('engine address', () => {
  it('reads unix sockets, bare paths, tcp and http addresses', () => {
    assert.deepEqual(engineAddress(undefined), { socketPath: '/var/run/docker.sock' });
    assert.deepEqual(engineAddress('unix:///run/d.sock'), { socketPath: '/run/d.sock' });
    assert.deepEqual(engineAddress('/run/d.sock'), { socketPath: '/run/d.sock' });
    assert.deepEqual(engineAddress('tcp://10.0.0.2:2376'), { host: '10.0.0.2', port: 2376 });
    assert.deepEqual(engineAddress('http://engine'), { host: 'engine', port: 2375 });
    assert.deepEqual(engineAddress('tcp://[::1]:2375'), { host: '::1', port: 2375 });
  });
  it('refuses what it cannot speak, naming it', () => {
    assert.throws(() => engineAddress('ssh://pi@device'), /'ssh:\/\/pi@device'/);
    assert.throws(() => engineAddress('https://engine:2376'), /unsupported docker host/);
  });
});

describe('container log frames', () => {
  it('splits multiplexed frames into stamped lines per stream', () => {
    const body = Buffer.concat([frame(1, '2026-01-01T00:00:00.1Z hello\n'), frame(2, '2026-01-01T00:00:00.2Z oops\n')]);
    assert.deepEqual(parseLogFrames(body, false), [
      { stream: 'stdout', timestamp: '2026-01-01T00:00:00.1Z', text: 'hello' },
      { stream: 'stderr', timestamp: '2026-01-01T00:00:00.2Z', text: 'oops' },
    ]);
  });
  it('joins a line (and a UTF-8 character) cut across frames', () => {
    const bytes = Buffer.from('2026-01-01T00:00:00Z 23.5 \u00b0C\n', 'utf8');
    const cut = bytes.indexOf(0xb0);
    const part = (b: Buffer): Buffer => {
      const h = Buffer.alloc(8);
      h[0] = 1;
      h.writeUInt32BE(b.length, 4);
      return Buffer.concat([h, b]);
    };
    const body = Buffer.concat([part(bytes.subarray(0, cut)), part(bytes.subarray(cut))]);
    assert.deepEqual(parseLogFrames(body, false), [
      { stream: 'stdout', timestamp: '2026-01-01T00:00:00Z', text: '23.5 \u00b0C' },
    ]);
  });
  it("reads a TTY container's raw output as stdout", () => {
    assert.deepEqual(parseLogFrames(Buffer.from('2026-01-01T00:00:00Z a\r\n2026-01-01T00:00:01Z b\r\n'), true), [
      { stream: 'stdout', timestamp: '2026-01-01T00:00:00Z', text: 'a' },
      { stream: 'stdout', timestamp: '2026-01-01T00:00:01Z', text: 'b' },
    ]);
  });
  it('refuses a truncated frame', () => {
    assert.throws(() => parseLogFrames(frame(1, 'x\n').subarray(0, 9), false), /claims 2 bytes, only 1 follow/);
  });
});
