import assert from 'node:assert/strict';
import type { FileMount } from '../../protocol/target-state.js';
import { desiredContainer } from '../../supervisor/plan/container-config.js';
import { fileMountKey } from '../../supervisor/plan/release-file-paths.js';
import { serviceSpec, targetState } from '../../harness/supervisor-targets.js';

const IMAGE = `127.0.0.1:5000/meters/reader@sha256:${'a'.repeat(64)}`;
const secret = (digest: string): FileMount => ({
  kind: 'secret',
  source: 'db_password',
  target: '/run/secrets/db_password',
  directory: false,
  files: [{ path: '', digest: `sha256:${digest.repeat(64)}`, size: 8 }],
  mode: 0o400,
});
const HOST = { filesRoot: '/data/release-files/mounts', stateRoot: '/data/state' };

describe('release files in container create options', () => {
  it('binds each mount read-only from its content folder, and state folders per service', () => {
    const spec = serviceSpec('reader', IMAGE, {
      files: [secret('1')],
      stateDirectories: [{ name: 'data', target: '/var/lib/app', readOnly: false }],
    });
    const desired = desiredContainer(spec, targetState([spec]), HOST);
    assert.deepEqual(desired.options.HostConfig?.Binds, [
      `/data/release-files/mounts/${fileMountKey(secret('1'))}/file:/run/secrets/db_password:ro`,
      '/data/state/reader/data:/var/lib/app',
    ]);
  });

  it('a changed file changes the config hash; where the device keeps files does not', () => {
    const with1 = serviceSpec('reader', IMAGE, { files: [secret('1')] });
    const with2 = serviceSpec('reader', IMAGE, { files: [secret('2')] });
    const a = desiredContainer(with1, targetState([with1]), HOST).configHash;
    assert.notEqual(desiredContainer(with2, targetState([with2]), HOST).configHash, a);
    const elsewhere = { filesRoot: '/elsewhere', stateRoot: '/elsewhere/state' };
    assert.equal(desiredContainer(with1, targetState([with1]), elsewhere).configHash, a);
    // A service without files keeps the hash it had before releases carried files.
    const plain = serviceSpec('reader', IMAGE);
    assert.equal(desiredContainer(plain, targetState([plain]), HOST).options.Labels?.['io.skiff.files'], undefined);
  });
});
