/** AWS SDK client construction shared by the Athena adapter and tools: region, endpoint override, credentials. */

import { AthenaClient } from '@aws-sdk/client-athena';
import { GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { addAwsErrorHints } from './error-hints.js';

export interface AwsStaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface AwsClientSettings {
  region: string;
  /**
   * One endpoint for every service (an emulator such as moto on loopback). Unset in production:
   * the SDK resolves the regional endpoints.
   */
  endpoint?: string | undefined;
  /** Unset in production: the default provider chain (IRSA / instance role / env). */
  credentials?: AwsStaticCredentials | undefined;
  maxAttempts?: number;
}

function base(s: AwsClientSettings): {
  region: string;
  endpoint?: string;
  credentials?: AwsStaticCredentials;
  maxAttempts?: number;
} {
  return {
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.credentials ? { credentials: s.credentials } : {}),
    ...(s.maxAttempts ? { maxAttempts: s.maxAttempts } : {}),
  };
}

export interface AwsClients {
  athena: AthenaClient;
  glue: GlueClient;
  s3: S3Client;
  destroy(): void;
}

export function createAwsClients(s: AwsClientSettings): AwsClients {
  const where = describeAwsSettings(s);
  const athena = addAwsErrorHints(new AthenaClient(base(s)), `Athena (${where})`);
  const glue = addAwsErrorHints(new GlueClient(base(s)), `Glue (${where})`);
  // Emulators serve buckets by path, not by virtual host.
  const s3 = addAwsErrorHints(new S3Client({ ...base(s), ...(s.endpoint ? { forcePathStyle: true } : {}) }), `S3 (${where})`);
  return {
    athena,
    glue,
    s3,
    destroy() {
      athena.destroy();
      glue.destroy();
      s3.destroy();
    },
  };
}

/** A description for logs: never credentials. */
export function describeAwsSettings(s: AwsClientSettings): string {
  return `region ${s.region}${s.endpoint ? `, endpoint ${s.endpoint}` : ''}`;
}
