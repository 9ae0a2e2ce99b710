import Type from 'typebox';

/**
 * A request for one workload's output on a device, as the hub hands it to the
 * device's agent (`GET /agent/v1/devices/D/log-requests` answers
 * `{"items": [LogRequest, ...]}`) and the agent answers with an upload to
 * `POST .../log-requests/{id}`. Hub and agent share this one definition.
 */
export const LogRequestSchema = Type.Object({
  /** Names the upload that answers it. */
  id: Type.String(),
  namespace: Type.String(),
  workload: Type.String(),
  container: Type.Optional(Type.String()),
  tail: Type.Optional(Type.Integer({ minimum: 0 })),
  follow: Type.Boolean(),
  /** A cron Workload's run (its index on the device); absent: the newest run. */
  run: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type LogRequest = Type.Static<typeof LogRequestSchema>;
