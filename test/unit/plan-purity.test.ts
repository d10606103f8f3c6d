// The planner is a pure function: it may load no module that does I/O, at any depth. Its own project compiles
// without Node's types (supervisor/plan/tsconfig.json), so a node: import in plan/ fails the build; but what it
// imports from protocol/ and lib/ it sees only as declarations. This walks the compiled modules' runtime imports
// (type-only imports are gone by then) from every file of plan/, transitively, and allows only plan/ itself and
// the pure modules listed here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const planDir = path.join(distRoot, 'supervisor', 'plan');

/** Modules outside plan/ the planner may load, as paths under dist/ or package names, each with what it may load. */
const ALLOWED: Record<string, readonly string[]> = {
  'lib/code-point-order.js': [],
  // The config hash must stay SHA-256 of the canonical JSON, or every device would recreate its containers; Node's
  // createHash is a pure, synchronous digest (no file, socket, clock or randomness), the one node: module allowed.
  'protocol/canonical-json.js': ['node:crypto'],
};

// What tsc emits for a runtime import: `import ... from '...'`, `export ... from '...'`, `import '...'`, `import(...)`.
const IMPORT =
  /(?:^|[\n;])\s*(?:import|export)\s[^;'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\n;])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*([^)]*)\)/g;

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? `import(${m[3] ?? ''})`);
}

/** Every module the planner loads, as "importer -> specifier" for whatever is not allowed. */
function violations(): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  const queue = readdirSync(planDir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.join(planDir, f));
  assert.ok(queue.length > 0, `no compiled planner in ${planDir}: build first`);
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const from = path.relative(distRoot, file);
    const inPlan = !path.relative(planDir, file).startsWith('..');
    const allowed = inPlan ? [] : ALLOWED[from];
    if (allowed === undefined) {
      found.push(`${from} (outside plan/, not a pure module)`);
      continue;
    }
    for (const spec of importsOf(file)) {
      if (spec.startsWith('./') || spec.startsWith('../')) queue.push(path.resolve(path.dirname(file), spec));
      else if (!allowed.includes(spec)) found.push(`${from} -> ${spec}`);
    }
  }
  return found;
}

describe('the planner (supervisor/plan)', () => {
  it('loads, at any depth, only plan/ and the pure modules allowed, so no node: module and no I/O', () => {
    assert.deepEqual(violations(), []);
  });

  it('the check sees what it must: a node: import, a dynamic import and a module outside plan/', () => {
    const sample = [
      "import { readFile } from 'node:fs/promises';",
      "export { plan } from './planner.js';",
      "import './side-effect.js';",
      'const m = await import(name);',
      "import {\n  a,\n  b,\n} from '../reconcile/update-lock.js';",
    ].join('\n');
    const specs = [...sample.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? `import(${m[3] ?? ''})`);
    assert.deepEqual(specs, [
      'node:fs/promises',
      './planner.js',
      './side-effect.js',
      'import(name)',
      '../reconcile/update-lock.js',
    ]);
  });
});
