import pino from 'pino';
import { startHub } from './src/hub/index.ts';
const [dir, url, key] = process.argv.slice(2);
try {
  const hub = await startHub({ dataDir: dir!, port: 0, store: url, version: 't', logger: pino({ level: 'error' }), encryptionKeyFile: key });
  console.log('OK');
  await hub.close();
} catch (error) {
  console.log('FAILED', (error as Error).stack?.split('\n').slice(0, 40).join('\n'));
  process.exit(1);
}
