// Builds one service image with the engine and tells the person what happens: each Dockerfile step as it
// starts, and on failure the step that failed, the engine's reason and the step's last output lines.
import type Docker from 'dockerode';
import { truncate } from '../views/output.js';
import type { ServiceBuild } from './compose-build.js';
import { listContextFiles } from './build-context.js';
import { readProgressStream } from './engine.js';

const OUTPUT_TAIL = 8;

interface BuildEvent {
  stream?: unknown;
  error?: unknown;
  errorDetail?: { message?: unknown };
  aux?: { ID?: unknown };
}

function asBuildEvent(event: unknown): BuildEvent {
  return typeof event === 'object' && event !== null ? (event as BuildEvent) : {};
}

/** Reads the classic builder's event stream; pure, so the display and the failure text are testable. */
export class BuildTracker {
  imageId: string | null = null;
  error: string | null = null;
  private step: string | null = null;
  private tail: string[] = [];

  /** Returns the lines worth showing for this event. */
  feed(raw: unknown): string[] {
    const event = asBuildEvent(raw);
    const shown: string[] = [];
    if (typeof event.aux?.ID === 'string') this.imageId = event.aux.ID;
    if (typeof event.stream === 'string') {
      for (const line of event.stream.split('\n').map((l) => l.trimEnd())) {
        if (line.trim() === '') continue;
        if (/^Step \d+\/\d+ : /.test(line)) {
          this.step = line;
          this.tail = [];
          shown.push(line);
        } else if (!/^ ---> |^Removing intermediate container |^Successfully (built|tagged) /.test(line)) {
          this.tail = [...this.tail, line].slice(-OUTPUT_TAIL);
        }
      }
    }
    const error =
      typeof event.errorDetail?.message === 'string'
        ? event.errorDetail.message
        : typeof event.error === 'string'
          ? event.error
          : null;
    if (error !== null) this.error = error.trim();
    return shown;
  }

  /** The one message for a failed build: which step, why, and what it printed last. */
  failure(): string {
    const match = this.step === null ? null : /^Step (\d+\/\d+) : (.*)$/.exec(this.step);
    const where = match ? `build failed at step ${match[1]} (${truncate(match[2]!, 60)})` : 'build failed';
    const reason = this.error ?? 'the engine ended the build without an image';
    const output = this.tail.length === 0 ? '' : `\n  last output:\n${this.tail.map((l) => `    ${l}`).join('\n')}`;
    return `${where}: ${reason}${output}`;
  }
}

/** Builds and tags `repository:tag`; returns the image id. `platform`: build for it (the engine's own when absent). */
export async function buildImage(
  docker: Docker,
  build: ServiceBuild,
  show: (line: string) => void,
  platform?: string,
): Promise<string> {
  const files = await listContextFiles(build.context, build.dockerfile);
  const tracker = new BuildTracker();
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(
      { context: build.context, src: files },
      {
        t: `${build.repository}:${build.tag}`,
        dockerfile: build.dockerfile,
        buildargs: build.buildArgs,
        ...(build.target === undefined ? {} : { target: build.target }),
        ...(platform === undefined ? {} : { platform }),
        rm: true,
        forcerm: true,
      },
    );
  } catch (err) {
    throw new Error(`the engine refused the build: ${err instanceof Error ? err.message : String(err)}`);
  }
  await readProgressStream(stream, (event) => tracker.feed(event).forEach(show));
  if (tracker.error !== null) throw new Error(tracker.failure());
  if (tracker.imageId !== null) return tracker.imageId;
  // Engines that do not send the aux ID still tagged the image: ask for it by name.
  try {
    const inspected = await docker.getImage(`${build.repository}:${build.tag}`).inspect();
    return inspected.Id;
  } catch {
    throw new Error(tracker.failure());
  }
}
