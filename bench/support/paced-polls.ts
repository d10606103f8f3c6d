// The baseline's load in bench/fleet-scale: the same number of pretend devices, polling on the same jittered
// schedule through the same client (harness/fleet-sim's scheduler and keep-alive agent), and holding the same
// number of streams open, against a server that speaks no Skiff: no keys, no signatures, no reports.
import { setMaxListeners } from 'node:events';
import { SimHttp } from '../../harness/fleet-sim/http.js';
import { jittered } from '../../harness/fleet-sim/behaviour.js';
import { Scheduler } from '../../harness/fleet-sim/scheduler.js';

export interface PacedPolls {
  takeLatencies(): number[];
  failures(): number;
  stop(): void;
}

export async function startPacedPolls(options: {
  url: string;
  devices: number;
  channels: number;
  pollIntervalMs: number;
  jitter: number;
  maxInFlight: number;
}): Promise<PacedPolls> {
  const http = new SimHttp({ baseUrl: options.url, maxInFlight: options.maxInFlight, timeoutMs: 30_000 });
  const scheduler = new Scheduler();
  const controller = new AbortController();
  // Every stream listens to the one signal that ends them all.
  setMaxListeners(0, controller.signal);
  let latencies: number[] = [];
  let failed = 0;
  const uuid = (i: number): string => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`;
  // Opened all at once: the client's in-flight limit paces them.
  await Promise.all(
    Array.from({ length: options.channels }, async (_, i) => {
      const response = await http.open(
        { method: 'GET', path: `/v1/device/${uuid(i)}/events`, headers: { authorization: 'Bearer x' } },
        controller.signal,
      );
      response.resume();
      response.on('error', () => undefined);
    }),
  );
  for (let i = 0; i < options.devices; i++) {
    const path = `/v1/device/${uuid(i)}/target`;
    const poll = (): void => {
      if (controller.signal.aborted) return;
      http.send({ method: 'GET', path, headers: { authorization: 'Bearer x', 'if-none-match': '"x"' } }).then(
        (answer) => {
          if (answer.status === 200) latencies.push(answer.ms);
          else failed += 1;
        },
        () => {
          if (!controller.signal.aborted) failed += 1;
        },
      );
      scheduler.after(jittered(options.pollIntervalMs, options.jitter), poll);
    };
    scheduler.after(Math.random() * options.pollIntervalMs, poll);
  }
  return {
    takeLatencies() {
      const taken = latencies;
      latencies = [];
      return taken;
    },
    failures: () => failed,
    stop() {
      controller.abort();
      scheduler.stop();
      http.close();
    },
  };
}
