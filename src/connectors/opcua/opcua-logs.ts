import { format } from 'node:util';
import type { Logger } from 'pino';

let prepared: Promise<void> | undefined;

/**
 * Loads node-opcua with its console output routed to `log` (on stderr):
 * node-opcua prints warnings with `console.log` (stdout) from the moment it is
 * loaded, which would mix with the programs' own output. Its warnings become
 * debug lines and its errors warnings. `NODEOPCUA_LOG_LEVEL`, when set, keeps
 * node-opcua's own behaviour. Must run before anything imports node-opcua.
 */
export function prepareOpcUa(log: Logger): Promise<void> {
  prepared ??= (async () => {
    const explicit = process.env.NODEOPCUA_LOG_LEVEL !== undefined;
    // The level is read once, when node-opcua-debug loads: silence the load-time warnings.
    if (!explicit) process.env.NODEOPCUA_LOG_LEVEL = '3';
    const opcua = await import('node-opcua');
    if (explicit) return;
    delete process.env.NODEOPCUA_LOG_LEVEL;
    const where = (context: unknown) => (context as { filename?: string } | undefined)?.filename;
    opcua.setWarningLogger((context, ...args) => log.debug({ opcua: where(context) }, format(...args)));
    opcua.setErrorLogger((context, ...args) => log.warn({ opcua: where(context) }, format(...args)));
    opcua.setLogLevel(opcua.LogLevel.Warning);
  })();
  return prepared;
}
