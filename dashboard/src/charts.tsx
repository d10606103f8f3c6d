// A device's metrics over time (GET /v1/devices/:uuid/metrics) drawn with uPlot: CPU, memory, temperature and disk
// over the last hour, day or week. The API answers raw samples for a range within the last hour and 15-minute
// buckets beyond; a bucket is drawn as its average with a band from its minimum to its maximum, so a short spike
// inside a quarter hour still shows. uPlot draws on a canvas and sets sizes through the DOM's style objects, which
// the page's Content-Security-Policy allows (it forbids inline style attributes and elements only).
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { DeviceMetricsHistory, MetricPoint, MetricStat } from '../../protocol/device-metrics.js';
import { call } from './api.js';
import { Loading } from './components.js';
import { useLive } from './live.js';
import { API } from './routes.js';
import './charts.css';

export const METRIC_RANGES = [
  { key: '1h', label: '1 h', ms: 3600_000 },
  { key: '24h', label: '24 h', ms: 24 * 3600_000 },
  { key: '7d', label: '7 d', ms: 7 * 24 * 3600_000 },
] as const;
type RangeKey = (typeof METRIC_RANGES)[number]['key'];

interface Metric {
  key: 'cpu' | 'memory' | 'temperature' | 'disk';
  title: string;
  unit: string;
  /** The point's value as avg, min and max in the chart's unit; null: not reported in it. */
  read: (point: MetricPoint) => MetricStat | null;
}

const percentOf = (stat: MetricStat, total: number): MetricStat => {
  const whole = Math.max(1, total);
  return { avg: (100 * stat.avg) / whole, min: (100 * stat.min) / whole, max: (100 * stat.max) / whole };
};

const METRICS: readonly Metric[] = [
  { key: 'cpu', title: 'CPU', unit: '%', read: (p) => p.cpuPercent },
  { key: 'memory', title: 'Memory', unit: '%', read: (p) => percentOf(p.memoryUsedBytes, p.memoryTotalBytes) },
  { key: 'temperature', title: 'Temperature', unit: '°C', read: (p) => p.temperatureCelsius },
  { key: 'disk', title: 'Disk', unit: '%', read: (p) => percentOf(p.diskUsedBytes, p.diskTotalBytes) },
];

/** The columns uPlot draws: times in seconds, then average, and for buckets minimum and maximum. */
function columnsOf(history: DeviceMetricsHistory, metric: Metric): uPlot.AlignedData {
  const times: number[] = [];
  const avg: (number | null)[] = [];
  const min: (number | null)[] = [];
  const max: (number | null)[] = [];
  for (const point of history.points) {
    const stat = metric.read(point);
    times.push(Date.parse(point.at) / 1000);
    avg.push(stat?.avg ?? null);
    min.push(stat?.min ?? null);
    max.push(stat?.max ?? null);
  }
  return history.resolution === 'raw' ? [times, avg] : [times, avg, min, max];
}

const LINE = '#0a58ca';
const BAND = 'rgba(10, 88, 202, 0.18)';

/** `span`: the range asked, in seconds, so that a few points are drawn where they are in it, not spread over it. */
function optionsOf(metric: Metric, bucketed: boolean, width: number, span: () => uPlot.Range.MinMax): uPlot.Options {
  const series: uPlot.Series[] = [
    {},
    { label: `${metric.title} (${metric.unit})`, stroke: LINE, width: 2, points: { size: 6, fill: LINE } },
  ];
  if (bucketed) series.push({ label: 'min', stroke: BAND }, { label: 'max', stroke: BAND });
  return {
    width,
    height: 160,
    series,
    // Higher series first: the band fills from the maximum down to the minimum.
    bands: bucketed ? [{ series: [3, 2], fill: BAND }] : [],
    scales: { x: { time: true, range: span }, ...(metric.unit === '%' ? { y: { range: [0, 100] } } : {}) },
    axes: [{}, { size: 44 }],
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
  };
}

/** One metric's chart; data-points says how many points carry a value, for people using a screen reader and tests. */
function Chart(props: { metric: Metric; history: DeviceMetricsHistory }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const bucketed = props.history.resolution !== 'raw';
  const data = columnsOf(props.history, props.metric);
  const values = (data[1] as (number | null)[]).filter((v): v is number => v !== null);
  const latest = values.at(-1);
  const drawn = values.length > 0;
  const span = useRef<uPlot.Range.MinMax>([0, 0]);
  span.current = [Date.parse(props.history.from) / 1000, Date.parse(props.history.to) / 1000];

  // Made again only when the kind of chart changes; new points go through setData below.
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const options = optionsOf(props.metric, bucketed, Math.max(240, element.clientWidth), () => span.current);
    const chart = new uPlot(options, data, element);
    plot.current = chart;
    const resized = new ResizeObserver(() => chart.setSize({ width: Math.max(240, element.clientWidth), height: 160 }));
    resized.observe(element);
    return () => {
      resized.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [props.metric.key, bucketed, drawn]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [props.history]);

  return (
    <figure class="chart" data-testid={`chart-${props.metric.key}`} data-points={values.length}>
      <figcaption>
        {props.metric.title}
        {latest !== undefined ? (
          <span class="muted">
            {' '}
            now {latest.toFixed(props.metric.unit === '%' ? 0 : 1)} {props.metric.unit}
          </span>
        ) : (
          <span class="muted"> not reported</span>
        )}
      </figcaption>
      {drawn && (
        <div
          ref={box}
          class="plot"
          role="img"
          aria-label={`${props.metric.title} over time, ${values.length} points`}
        />
      )}
    </figure>
  );
}

export function MetricsCharts(props: { uuid: string }) {
  const [range, setRange] = useState<RangeKey>('1h');
  const span = METRIC_RANGES.find((r) => r.key === range)?.ms ?? 3600_000;
  // Up to the API's now, not the browser's: its clock decides whether a range is within the last hour (raw
  // samples), and the last hour is its default range, so that one is asked without a start.
  const { data, error } = useLive(
    () =>
      call(API.deviceMetrics, {
        params: { uuid: props.uuid },
        query: range === '1h' ? {} : { from: new Date(Date.now() - span).toISOString() },
      }),
    [props.uuid, range],
  );
  return (
    <section aria-labelledby="metrics-title" class="panel">
      <h2 id="metrics-title">Metrics</h2>
      <fieldset class="ranges">
        <legend>Time range</legend>
        {METRIC_RANGES.map((r) => (
          <button key={r.key} type="button" aria-pressed={r.key === range} onClick={() => setRange(r.key)}>
            {r.label}
          </button>
        ))}
      </fieldset>
      {data === null ? (
        <Loading error={error} />
      ) : (
        <>
          <p class="muted" data-testid="metrics-summary" data-points={data.points.length}>
            {data.points.length}{' '}
            {data.resolution === 'raw'
              ? `sample${data.points.length === 1 ? '' : 's'}`
              : '15-minute buckets (average, band: min to max)'}
          </p>
          <div class="charts">
            {METRICS.map((m) => (
              <Chart key={m.key} metric={m} history={data} />
            ))}
          </div>
        </>
      )}
    </section>
  );
}
