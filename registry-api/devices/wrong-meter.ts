// "Connected to the wrong meter?": the meter a device reads announces another serial than the one the device was
// commissioned for. Checked where either side changes (a state report, a commissioning); the fleet event goes out
// once, when the flag turns on, not with every report that repeats it.
import type { FleetEventBus } from '../events/bus.js';
import type { DeviceView } from '../store/index.js';
import { isWrongMeter } from './summary.js';

type MeterFacts = Pick<DeviceView, 'meterSerial' | 'lastReport'>;

/** Publishes `device.wrong-meter` when `after` reads a wrong meter and `before` did not; returns whether it did. */
export function announceWrongMeter(
  events: FleetEventBus,
  device: Pick<DeviceView, 'uuid' | 'shortId' | 'fleet'>,
  before: MeterFacts | null,
  after: MeterFacts,
): boolean {
  if (!isWrongMeter(after.meterSerial, after.lastReport)) return false;
  if (before !== null && isWrongMeter(before.meterSerial, before.lastReport)) return false;
  const commissioned = after.meterSerial ?? '';
  const announced = after.lastReport?.meterSerial ?? '';
  events.publish({
    kind: 'device.wrong-meter',
    fleet: device.fleet,
    device: device.uuid,
    summary: `device ${device.shortId} reads meter ${JSON.stringify(announced)}, commissioned for ${JSON.stringify(commissioned)}: connected to the wrong meter?`,
    detail: { commissioned, announced },
  });
  return true;
}
