// Where `skiff push --local` puts its images when no fleet is named. Its own module because the command tree shows it
// in its help: loading push-local.ts for that would load dockerode for every command.

/** Repositories go under REGISTRY/local/ unless told otherwise. */
export const LOCAL_NAMESPACE = 'local';
