// The device-local API's listening socket. The Koa app behind it (server.ts: Koa, its router, TypeBox's validators,
// some 4 MB resident) is loaded on the first request, not at start: most devices never get one, and the socket
// answers the same either way.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  Health,
  LocalState,
  LocalTargetAnswer,
  LocalTargetRequest,
  ServiceHealthRequest,
} from '../../protocol/local-api.js';
import type { Logger } from '../../lib/logger.js';
import { messageOf } from '../../lib/errors.js';
import type { ContainerLogLine } from '../engine/engine.js';

/** An answer other than 200 the device chose on purpose (no such service, not in local mode...). */
export class LocalApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'LocalApiError';
  }
}

export type ServiceAction = 'restart' | 'stop' | 'start';

/** What the supervisor lets the local API see and do. */
export interface DeviceControl {
  state(): Promise<LocalState>;
  health(): Promise<Health>;
  serviceAction(service: string, action: ServiceAction): Promise<string>;
  serviceLogs(service: string, tail: number): Promise<ContainerLogLine[]>;
  /** A service's own health (../app-health/); false when the device runs no such service. */
  reportHealth(service: string, request: ServiceHealthRequest): boolean;
  reboot(): Promise<string[]>;
  enterLocalMode(request: LocalTargetRequest): Promise<LocalTargetAnswer>;
  /** False when the device was not in local mode. */
  leaveLocalMode(): Promise<boolean>;
  localTarget(): LocalTargetRequest | null;
}

export interface LocalApiOptions {
  control: DeviceControl;
  key: string;
  log: Logger;
  host: string;
  port: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface LocalApi {
  url: string;
  close(): Promise<void>;
}

export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  let app: Promise<Handler> | undefined;
  const server: Server = createServer((req, res) => {
    app ??= import('./server.js').then(({ localApiApp }) => localApiApp(options).callback());
    app.then(
      (handle) => handle(req, res),
      (err: unknown) => {
        options.log.error({ err: messageOf(err) }, 'local API: its request handler cannot be loaded');
        res.statusCode = 500;
        res.end();
      },
    );
  });
  server.listen(options.port, options.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw new Error(`the local API cannot listen on ${options.host}:${options.port}: ${messageOf(err)}`, {
      cause: err,
    });
  }
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  options.log.info({ url }, 'local API listening');
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
