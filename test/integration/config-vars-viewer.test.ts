// Config vars may hold secrets: through the real API, a viewer reads their names only, while the roles that set
// them (operator) or ship the code that reads them (developer) and admins read the values.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Role } from '../../protocol/access.js';
import { ApiClient } from '../../cli/api-client.js';
import { ApiServer } from '../../harness/api-server.js';
import { TestDevice } from '../../harness/test-device.js';

describe('config vars and viewers', function () {
  this.timeout(60_000);
  let api: ApiServer;
  let uuid: string;
  const as: Partial<Record<Role, ApiClient>> = {};

  before(async () => {
    api = await ApiServer.start({ redisUrl: null });
    const fleet = await api.createFleet('meters');
    const device = TestDevice.create(randomUUID());
    uuid = (await device.token(api.url, { fleet: 'meters', provisioningKey: fleet.provisioningKey })).uuid;
    await api.admin.setFleetVar('meters', 'MQTT_PASSWORD', 'hunter2');
    await api.admin.setFleetVar('meters', 'REGION', 'eu-west');
    await api.admin.setDeviceVar(uuid, 'METER_PIN', '0451');
    for (const role of ['viewer', 'developer', 'operator'] as const) {
      const name = `${role}-user`;
      await api.admin.createUser({ name, role });
      as[role] = new ApiClient({ baseUrl: api.url, token: (await api.admin.createToken(name)).token });
    }
  });

  after(async () => {
    await api?.stop();
  });

  it('shows a viewer the names of the fleet vars, not their values', async () => {
    assert.deepEqual(await as.viewer?.fleetVars('meters'), { MQTT_PASSWORD: '', REGION: '' });
  });

  it("shows a viewer a device's config without any var value", async () => {
    const view = await as.viewer?.deviceConfig(uuid);
    assert.deepEqual(view?.vars, { METER_PIN: '' });
    assert.deepEqual(view?.fleetVars, { MQTT_PASSWORD: '', REGION: '' });
    assert.deepEqual(view?.effective.env, { METER_PIN: '', MQTT_PASSWORD: '', REGION: '' });
    assert.doesNotMatch(JSON.stringify(view), /hunter2|0451|eu-west/);
  });

  it('shows the values to developers, operators and admins', async () => {
    for (const client of [as.developer, as.operator, api.admin]) {
      assert.deepEqual(await client?.fleetVars('meters'), { MQTT_PASSWORD: 'hunter2', REGION: 'eu-west' });
      const view = await client?.deviceConfig(uuid);
      assert.deepEqual(view?.effective.env, { METER_PIN: '0451', MQTT_PASSWORD: 'hunter2', REGION: 'eu-west' });
    }
  });
});
