// The docker-compose baseline: the same release as a compose file, brought up with `docker-compose up -d` (the
// Debian package, compose v1) against the device engine. The file carries what Skiff gives each container:
// image, environment (Skiff's injected variables included), labels, restart policy, ports and volumes.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EngineClient } from '../../supervisor/engine/client.js';
import { removeLabelled } from '../../harness/supervisor-device.js';
import { stringify } from 'yaml';
import type { TargetState } from '../../protocol/target-state.js';
import { desiredState } from '../../supervisor/plan/desired-state.js';
import { LABELS } from '../../supervisor/plan/naming.js';

export const COMPOSE_PROJECT = 'skiffbench';
const PROJECT_LABEL = `com.docker.compose.project=${COMPOSE_PROJECT}`;

interface ComposeService {
  image: string;
  environment: string[];
  labels: Record<string, string>;
  restart: string;
  ports?: string[];
  volumes?: string[];
}

export function composeFile(target: TargetState): string {
  const containers = new Map(desiredState(target).containers.map((c) => [c.service, c]));
  const services: Record<string, ComposeService> = {};
  const volumes = new Set<string>();
  for (const spec of target.services) {
    const desired = containers.get(spec.name);
    if (desired === undefined) throw new Error(`no desired container for service ${spec.name}`);
    // Not Skiff's "managed" label: these containers are compose's, and Skiff's planner must never adopt them.
    const { [LABELS.managed]: _managed, ...labels } = desired.options.Labels ?? {};
    const service: ComposeService = {
      image: spec.image,
      environment: desired.options.Env ?? [],
      labels,
      restart: spec.restart,
    };
    if (spec.ports.length > 0) {
      service.ports = spec.ports.map(
        (p) => `${p.hostIp === undefined ? '' : `${p.hostIp}:`}${p.published ?? ''}:${p.target}/${p.protocol}`,
      );
    }
    const mounts = spec.volumes.filter((v) => v.type === 'volume' && v.source !== undefined);
    if (mounts.length > 0) {
      service.volumes = mounts.map((v) => `${v.source ?? ''}:${v.target}${v.readOnly ? ':ro' : ''}`);
      for (const v of mounts) volumes.add(v.source ?? '');
    }
    services[spec.name] = service;
  }
  return stringify({
    version: '2.4',
    services,
    ...(volumes.size > 0 ? { volumes: Object.fromEntries([...volumes].map((v) => [v, {}])) } : {}),
  });
}

/** `docker-compose up -d` of `target`, written to DIR/docker-compose.yml; rejects with compose's output on failure. */
export async function composeUp(dir: string, target: TargetState, dockerHost: string): Promise<void> {
  const file = path.join(dir, 'docker-compose.yml');
  await writeFile(file, composeFile(target));
  await runCompose(['-p', COMPOSE_PROJECT, '-f', file, 'up', '-d'], dockerHost);
}

export async function composeVersion(): Promise<string | null> {
  try {
    return (await runCompose(['version', '--short'], undefined)).trim();
  } catch {
    return null;
  }
}

function runCompose(args: string[], dockerHost: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker-compose', args, {
      env: { ...process.env, ...(dockerHost === undefined ? {} : { DOCKER_HOST: dockerHost }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`docker-compose ${args.join(' ')} exited with ${code ?? 'a signal'}: ${output.trim()}`));
    });
  });
}

/** Removes the compose project's containers, networks and volumes. */
export async function cleanCompose(docker: EngineClient): Promise<void> {
  await removeLabelled(docker, PROJECT_LABEL);
}
