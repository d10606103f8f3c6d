// The engine answers long operations (pull, push, build, load) with a stream of JSON lines; a failure arrives as
// a line with `error`, after an HTTP 200. Reading the stream to its end is the only way to know the operation
// finished.

export interface EngineEvent {
  status?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string };
  progressDetail?: { current?: number; total?: number };
  aux?: Record<string, unknown>;
  stream?: string;
}

function eventOf(text: string): EngineEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`engine progress line is not JSON (${String(err)}): ${text.slice(0, 200)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`engine progress line is not a JSON object: ${text.slice(0, 200)}`);
  }
  return parsed as EngineEvent;
}

export async function readJsonLines(
  stream: NodeJS.ReadableStream,
  onEvent: (event: EngineEvent) => void,
): Promise<void> {
  let buffered = '';
  let failure: string | undefined;
  const handle = (line: string): void => {
    const text = line.trim();
    if (text === '') return;
    const event = eventOf(text);
    if (event.error !== undefined || event.errorDetail?.message !== undefined) {
      failure ??= event.errorDetail?.message ?? event.error;
    }
    onEvent(event);
  };
  for await (const chunk of stream) {
    buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  }
  handle(buffered);
  if (failure !== undefined) throw new Error(failure);
}
