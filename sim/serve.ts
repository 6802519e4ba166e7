import { DEFAULT_CREDENTIALS, startSimulator } from './index.js';

/** `sfpipe sim serve`: runs the simulator until SIGINT/SIGTERM. */
export async function serveCommand(opts: { port: number; host: string; users: number; seed: number; stateFile?: string; jwtCertificate?: string }): Promise<void> {
  const sim = await startSimulator({
    port: opts.port,
    host: opts.host,
    users: opts.users,
    seed: opts.seed,
    stateFile: opts.stateFile,
    ...(opts.jwtCertificate ? { jwtCertificate: opts.jwtCertificate } : {}),
  });
  const jwt = opts.jwtCertificate ? ', or JWT bearer signed by the certificate\'s key' : '';
  process.stdout.write(`Salesforce simulator listening on ${sim.url} (${sim.org.count()} users; login with client_id=${DEFAULT_CREDENTIALS.clientId} via client_credentials${jwt})\n`);
  await untilStopSignal();
  await sim.close();
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
