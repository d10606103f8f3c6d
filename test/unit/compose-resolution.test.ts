import assert from 'node:assert/strict';
import { interpolate } from '../../protocol/compose/interpolation.js';
import { ComposeIssue } from '../../protocol/compose/path.js';
import { resolveCompose } from '../../protocol/compose/resolution.js';
import { normalizeCompose } from '../../protocol/compose/normalize.js';
import { ValidationError } from '../../protocol/validate.js';

const IMAGE = `127.0.0.1:5000/meters/reader@sha256:${'a'.repeat(64)}`;

function issueOf(fn: () => unknown): ComposeIssue {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ComposeIssue, String(err));
    return err;
  }
  assert.fail('no issue');
}

describe('compose variable interpolation', () => {
  const vars = { SET: 'on', EMPTY: '', PRICE: '5$' };
  const at = ['services', 'a', 'command'];

  it('substitutes $VAR and ${VAR}, keeping $$ and escaping $ in values', () => {
    assert.equal(interpolate('$SET-${SET}x', vars, at), 'on-onx');
    assert.equal(interpolate('cost $$1 ${PRICE}', vars, at), 'cost $$1 5$$');
    assert.equal(interpolate('no vars, a lone $ here', vars, at), 'no vars, a lone $$ here');
  });

  it('applies defaults, alternatives and required markers with and without the colon', () => {
    assert.equal(interpolate('${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}|${UNSET-d}', vars, at), 'd|d||d');
    assert.equal(interpolate('${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}', vars, at), 'alt||alt|');
    assert.equal(interpolate('${UNSET:-${SET}/x}', vars, at), 'on/x');
    assert.equal(interpolate('${EMPTY?must}', vars, at), '');
    assert.match(
      issueOf(() => interpolate('${EMPTY:?give a token}', vars, at)).message,
      /variable EMPTY is empty: give a token/,
    );
    assert.match(
      issueOf(() => interpolate('${UNSET?}', vars, at)).message,
      /variable UNSET is not set: it is required/,
    );
  });

  it('refuses an unset variable without default, and malformed braces, naming the path', () => {
    const unset = issueOf(() => interpolate('x ${NOPE} y', vars, at));
    assert.deepEqual(unset.path, at);
    assert.match(unset.message, /variable NOPE is not set .* \$\{NOPE:-\} for an empty default/);
    assert.match(issueOf(() => interpolate('${SET', vars, at)).message, /without its closing/);
    assert.match(issueOf(() => interpolate('${1x}', vars, at)).message, /without a variable name/);
    assert.match(issueOf(() => interpolate('${SET/x}', vars, at)).message, /followed by '\/'/);
  });
});

describe('compose resolution for push', () => {
  const envFiles: Record<string, Record<string, string>> = {
    'base.env': { A: 'from-file', B: 'file $HOME', C: 'file' },
    'more.env': { C: 'more' },
  };
  const input = (variables: Record<string, string>) => ({
    variables,
    readEnvFile: (file: string, at: readonly (string | number)[]) => {
      const entries = envFiles[file];
      if (entries === undefined) throw new ComposeIssue(at, `env file ${file} does not exist`);
      return entries;
    },
  });

  it('resolves variables in values (not keys), keeps comments, and the normaliser accepts the result', () => {
    const text = [
      '# the meter fleet',
      'services:',
      '  reader:',
      `    image: \${REPO}@sha256:${'a'.repeat(64)}  # pinned`,
      '    ports: ["${PORT:-8080}:80"]',
      '    environment:',
      '      ${KEY}: literal key',
      '      PRICE: $$3',
      '    mem_limit: ${MEM}',
      '',
    ].join('\n');
    const resolved = resolveCompose(text, input({ REPO: '127.0.0.1:5000/meters/reader', KEY: 'ignored', MEM: '64m' }));
    assert.match(resolved, /# the meter fleet/);
    assert.match(resolved, /# pinned/);
    const spec = normalizeCompose(resolved, {}).services[0];
    assert.equal(spec?.image, IMAGE);
    assert.deepEqual(spec?.ports, [{ target: 80, published: 8080, protocol: 'tcp' }]);
    assert.deepEqual(spec?.environment, { '${KEY}': 'literal key', PRICE: '$3' });
    assert.equal(spec?.memoryBytes, 64 * 1024 * 1024);
  });

  it('merges env_file files in order under environment, which wins, with their values literal', () => {
    const text = `services:\n  reader:\n    image: ${IMAGE}\n    env_file: [base.env, more.env]\n    environment: [A=own, TOKEN, MISSING_OK=1]\n`;
    const resolved = resolveCompose(text, input({ TOKEN: 's3cr$t' }));
    const spec = normalizeCompose(resolved, {}).services[0];
    assert.deepEqual(spec?.environment, { A: 'own', B: 'file $HOME', C: 'more', TOKEN: 's3cr$t', MISSING_OK: '1' });
    const single = resolveCompose(`services:\n  reader:\n    image: ${IMAGE}\n    env_file: more.env\n`, input({}));
    assert.deepEqual(normalizeCompose(single, {}).services[0]?.environment, { C: 'more' });
  });

  it('leaves an environment entry without a value for the normaliser when the variable is unset', () => {
    const text = `services:\n  reader:\n    image: ${IMAGE}\n    environment: [TOKEN]\n`;
    assert.equal(resolveCompose(text, input({})), text);
  });

  it('reports every problem with its compose path', () => {
    const text = `services:\n  reader:\n    image: ${IMAGE}\n    command: echo \${NOPE}\n    env_file: [gone.env]\n`;
    assert.throws(
      () => resolveCompose(text, input({})),
      (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.deepEqual(
          err.issues.map((i) => i.path),
          ['services.reader.command', 'services.reader.env_file[0]'],
        );
        assert.match(err.issues[1]?.message ?? '', /gone.env does not exist/);
        return true;
      },
    );
  });

  it('skips a missing env file marked required: false, and still fails on a required one', () => {
    const text = `services:\n  reader:\n    image: ${IMAGE}\n    env_file:\n      - {path: gone.env, required: false}\n      - base.env\n`;
    const resolved = normalizeCompose(resolveCompose(text, input({})), {});
    assert.equal(resolved.services[0]?.environment.A, 'from-file');
    assert.throws(
      () => resolveCompose(text.replace('required: false', 'required: true'), input({})),
      /env file gone.env does not exist/,
    );
  });

  it('merges a service extending one of another file, resolving that file with the same variables', () => {
    const common = `services:\n  base:\n    image: ${IMAGE}\n    environment: ["SITE=\${SITE}", A=1]\n    cap_add: [NET_ADMIN]\n`;
    const text = 'services:\n  reader:\n    extends: {file: common.yml, service: base}\n    environment: {A: "2"}\n';
    const resolved = resolveCompose(text, {
      ...input({ SITE: 'north' }),
      readComposeFile: (file: string) => (file === 'common.yml' ? common : assert.fail(file)),
    });
    const reader = normalizeCompose(resolved, {}).services[0];
    assert.deepEqual(reader?.environment, { SITE: 'north', A: '2' });
    assert.deepEqual(reader?.capAdd, ['NET_ADMIN']);
    assert.equal(reader?.image, IMAGE);
  });
});
