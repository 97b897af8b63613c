import { createMetricsClient } from '@metrics-collection/client';
const endpoint = process.env.MCA_ENDPOINT ?? 'http://localhost:5000';
const client = createMetricsClient({ endpoint, appId: process.env.MCA_APP_ID ?? 'quickstart', profileId: 'node-example' });
client.gauge('cpu_usage', 75.5, { host: 'server1' });
client.counter('checkouts', 1, { shop: 'eu' });
client.observe('render_ms', 42);
process.exitCode = (await client.close()) ? 0 : 1;
