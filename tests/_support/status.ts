/** A valid status message as a node would publish it, for broker tests. */
import { statusMessage, type StatusMessage } from '../../protocol/messages.ts';

export function statusPayload(id: string, state: StatusMessage['state']): string {
  return statusMessage({
    id,
    url: 'http://127.0.0.1:7001',
    state,
    ts: Date.now(),
    startedAt: Date.now(),
    heartbeatMs: 1000,
    seq: 0,
    applied: {},
    lag: 0,
    files: 0,
    bytes: 0,
    disk: { free: 0, total: 0 },
    inflight: 0,
    version: '0.1.0',
  });
}
