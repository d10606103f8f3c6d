// Load from Debian's wrk, in a process of its own: each request is the next line of a targets file (path, bearer
// token, ETag), so the load rotates through every device, with If-None-Match on all but every Nth request. The Lua
// script counts answers by status in every thread and prints one JSON line at the end.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const SCRIPT = String.raw`
local targets = {}
local index = 0
local fullEvery = 20
ok, notModified, other = 0, 0, 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  fullEvery = tonumber(args[2])
  for line in io.lines(args[1]) do
    local target, token, etag = line:match("^(%S+) (%S+) (.+)$")
    table.insert(targets, { target = target, auth = "Bearer " .. token, etag = etag })
  end
  -- Threads start at different places so they do not poll the same device at once.
  index = (id * 7919) % #targets
end

function request()
  index = index % #targets + 1
  local t = targets[index]
  local headers = { Authorization = t.auth }
  if index % fullEvery ~= 0 then headers["If-None-Match"] = t.etag end
  return wrk.format("GET", t.target, headers)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 304 then notModified = notModified + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local c200, c304, cOther = 0, 0, 0
  for _, thread in ipairs(threads) do
    c200 = c200 + thread:get("ok")
    c304 = c304 + thread:get("notModified")
    cOther = cOther + thread:get("other")
  end
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"socketErrors":%d,"status200":%d,"status304":%d,"statusOther":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, c200, c304, cOther))
end
`;

export interface WrkTarget {
  /** Path and query. */
  target: string;
  token: string;
  etag: string;
}

export interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  socketErrors: number;
  status200: number;
  status304: number;
  statusOther: number;
}

export interface WrkOptions {
  url: string;
  targets: WrkTarget[];
  seconds: number;
  connections: number;
  threads: number;
  /** Every Nth request goes without If-None-Match (a full, signed answer). */
  fullEvery: number;
  /** Where the script and the targets file go. */
  dir: string;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const script = path.join(options.dir, 'rotate-targets.lua');
  const targets = path.join(options.dir, `targets-${options.targets.length}.txt`);
  await writeFile(script, SCRIPT);
  await writeFile(targets, `${options.targets.map((t) => `${t.target} ${t.token} ${t.etag}`).join('\n')}\n`);
  const { stdout } = await run(
    'wrk',
    [
      '-t',
      String(options.threads),
      '-c',
      String(options.connections),
      '-d',
      `${options.seconds}s`,
      '--timeout',
      '5s',
      '-s',
      script,
      options.url,
      '--',
      targets,
      String(options.fullEvery),
    ],
    { maxBuffer: 1 << 20 },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('{"requests"'));
  if (!line) throw new Error(`wrk printed no result line:\n${stdout}`);
  const raw = JSON.parse(line) as {
    requests: number;
    durationUs: number;
    p50Us: number;
    p99Us: number;
    socketErrors: number;
    status200: number;
    status304: number;
    statusOther: number;
  };
  return {
    requestsPerSecond: raw.requests / (raw.durationUs / 1e6),
    p50Ms: raw.p50Us / 1000,
    p99Ms: raw.p99Us / 1000,
    requests: raw.requests,
    socketErrors: raw.socketErrors,
    status200: raw.status200,
    status304: raw.status304,
    statusOther: raw.statusOther,
  };
}
