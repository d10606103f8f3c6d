// Which Docker engine builds and pushes: --docker-host, else DOCKER_HOST, else the engine's usual socket.
import Docker from 'dockerode';

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

export function engineOptions(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const match = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(host);
  if (!match) {
    throw new Error(
      `the Docker host '${host}' is not understood (expected unix:///path/docker.sock or tcp://host:port)`,
    );
  }
  const [, scheme, hostname, port] = match;
  return { protocol: scheme === 'https' ? 'https' : 'http', host: hostname!, port: Number(port) };
}

/** Connects and pings, so an absent engine is reported before any work starts. */
export async function connectEngine(host: string): Promise<Docker> {
  const docker = new Docker(engineOptions(host));
  try {
    await docker.ping();
  } catch (err) {
    throw new Error(
      `could not reach the Docker engine at ${host}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return docker;
}

/**
 * Feeds each JSON line of an engine progress stream (build, push) to `onEvent` and settles when the stream
 * ends. A line that is not JSON is skipped rather than thrown from inside a stream handler.
 */
export function readProgressStream(stream: NodeJS.ReadableStream, onEvent: (event: unknown) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const emit = (line: string): void => {
      const trimmed = line.trim();
      if (trimmed === '') return;
      let event: unknown;
      try {
        event = JSON.parse(trimmed);
      } catch {
        return;
      }
      onEvent(event);
    };
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      if (err) {
        reject(err);
        return;
      }
      emit(buffered);
      buffered = '';
      resolve();
    };
    stream.on('data', (chunk: Buffer | string) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        emit(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
    });
    stream.on('error', (err: Error) => finish(err));
    stream.on('end', () => finish());
    stream.on('close', () => finish());
  });
}
