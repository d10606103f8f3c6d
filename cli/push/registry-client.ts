// The one registry client of a push: the fleet's registry with the user's Skiff login (its token server is the
// API), every other registry anonymously, so the login never reaches another registry's token server; and the CLI
// names itself, so a registry's log tells the CLI's requests from anyone else's.
import { skiffVersion } from '../../lib/package-version.js';
import { tokenServerAuth, type RegistryAuth, type RegistryCredentials } from '../../lib/registry/auth.js';
import { RegistryClient } from '../../lib/registry/client.js';
import { parseInsecureRegistries } from '../../lib/insecure-registries.js';

export interface PushRegistryOptions {
  /** host:port of the fleet's registry; null: the API has none, every registry is asked anonymously. */
  registry: string | null;
  /** The user's name and API token, for the fleet's registry only. */
  credentials?: RegistryCredentials | undefined;
  env: NodeJS.ProcessEnv;
}

export function pushRegistryClient(options: PushRegistryOptions): RegistryClient {
  const fleetAuth = tokenServerAuth({ credentials: () => options.credentials });
  const anonymous = tokenServerAuth();
  const auth: RegistryAuth = (request) =>
    options.registry !== null && request.ref.registry === options.registry ? fleetAuth(request) : anonymous(request);
  return new RegistryClient({
    auth,
    insecureRegistries: parseInsecureRegistries(options.env.SKIFF_INSECURE_REGISTRIES, 'SKIFF_INSECURE_REGISTRIES'),
    timeoutMs: 120_000,
    userAgent: `skiff-cli/${skiffVersion()}`,
  });
}
