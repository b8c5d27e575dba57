/**
 * Who is a node (DESIGN.md 7.6) on a cluster with a token and a node token:
 * nodes replicate with their own credentials, clients holding the cluster
 * token use the API but not the nodes' `/internal/` routes, and on the broker
 * they may subscribe but not publish as nodes.
 */
import mqtt from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sha256, startCluster } from './_support/cluster.ts';

const TOKEN = 'cluster-token';
const NODE_TOKEN = 'node-token-never-given-to-clients';

test('nodes replicate with their own secret; the cluster token reaches the API, not /internal/, and cannot publish', async () => {
  const cluster = await startCluster({ nodes: 2, token: TOKEN, nodeToken: NODE_TOKEN, label: 'node-token' });
  try {
    await cluster.waitMesh();
    const put = await cluster.put(1, 'shared.txt', 'replicated', { w: 'all' });
    assert.is(put.status, 201, put.body.toString());
    assert.equal([...put.json.replicas].sort(), [cluster.id(1), cluster.id(2)].sort());
    assert.is(sha256((await cluster.get(2, 'shared.txt')).body), sha256('replicated'));

    const asClient = await fetch(`${cluster.url(1)}/internal/digest`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(asClient.status, 401);
    const asNode = await fetch(`${cluster.url(1)}/internal/digest`, { headers: { authorization: `Bearer ${NODE_TOKEN}` } });
    assert.is(asNode.status, 200);
    assert.is((await fetch(`${cluster.url(1)}/files/shared.txt`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);

    const client = await mqtt.connectAsync(cluster.brokerUrl, { username: 'client', password: TOKEN, reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.publish('nuvem/files/forged.txt', JSON.stringify({ path: 'forged.txt', origin: cluster.id(1), seq: 99 }), { qos: 0 });
    await closed;
    await client.endAsync(true);
    assert.equal(cluster.crashes(), []);
  } finally {
    await cluster.close();
  }
});

test.run();
