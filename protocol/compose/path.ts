// Where in a compose file something is wrong, written the way people read compose files:
// `services.meter-reader.ports[0]`, `volumes["data.v1"]`.

export type ComposePath = readonly (string | number)[];

/** A problem at one place of a compose file; the normaliser collects these into one ValidationError. */
export class ComposeIssue extends Error {
  constructor(
    readonly path: ComposePath,
    message: string,
  ) {
    super(message);
    this.name = 'ComposeIssue';
  }
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

export function formatPath(path: ComposePath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}
