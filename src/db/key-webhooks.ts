// Webhook settings of stored key names: the default endpoint of a name's
// tasks and the secret their deliveries are signed with (Standard Webhooks
// `whsec_…`, made when first needed). Secrets are read only here, by the
// deliverer and by `npm run keys -- webhook-secret`.
import { randomBytes } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { execRows, type Db, type DbOrTx } from './client.js';
import { ApiKeyError, KEYS_CHANNEL } from './api-keys.js';
import { apiKeys, keyWebhooks } from './schema.js';

export function generateWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}

const usable = sql`${apiKeys.revokedAt} is null and (${apiKeys.expiresAt} is null or ${apiKeys.expiresAt} > now())`;

async function requireActiveName(tx: DbOrTx, name: string): Promise<void> {
  const [k] = await tx.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.name, name), usable)).limit(1);
  if (!k) throw new ApiKeyError(`no active key named "${name}"`);
}

/** Set (or with null clear) the default webhook endpoint of a key name's tasks. */
export async function setKeyWebhookUrl(db: Db, name: string, url: string | null): Promise<void> {
  await db.transaction(async (tx) => {
    await requireActiveName(tx, name);
    await tx
      .insert(keyWebhooks)
      .values({ name, url })
      .onConflictDoUpdate({ target: keyWebhooks.name, set: { url, updatedAt: sql`now()` } });
    // Servers remember keys for a moment: let them read the new default at once.
    await tx.execute(sql`select pg_notify(${KEYS_CHANNEL}, 'webhook')`);
  });
}

/** The key name's secret, made now if it has none; `rotate` replaces it (the old one stops signing at once). */
export async function keyWebhookSecret(db: Db, name: string, opts: { rotate?: boolean } = {}): Promise<string> {
  return db.transaction(async (tx) => {
    await requireActiveName(tx, name);
    const fresh = generateWebhookSecret();
    const [row] = await execRows<{ secret: string }>(
      tx,
      sql`insert into ${keyWebhooks} (name, secret) values (${name}, ${fresh})
          on conflict (name) do update set secret = ${opts.rotate ? sql`excluded.secret` : sql`coalesce(${keyWebhooks.secret}, excluded.secret)`}, updated_at = now()
          returning secret`,
    );
    return row!.secret;
  });
}

/**
 * The secret that signs the deliveries of an owner: a stored key name's own
 * (made now if it has none); null for an owner that is no stored key name
 * (environment keys, the keyless mode: REELAY_WEBHOOK_SECRET signs for them).
 */
export async function webhookSecretForOwner(db: DbOrTx, owner: string): Promise<string | null> {
  const [row] = await execRows<{ secret: string | null; stored: boolean }>(
    db,
    sql`select (select secret from ${keyWebhooks} where name = ${owner}) as secret, exists (select 1 from ${apiKeys} where name = ${owner}) as stored`,
  );
  if (row?.secret) return row.secret;
  if (!row?.stored) return null;
  const [made] = await execRows<{ secret: string }>(
    db,
    sql`insert into ${keyWebhooks} (name, secret) values (${owner}, ${generateWebhookSecret()})
        on conflict (name) do update set secret = coalesce(${keyWebhooks.secret}, excluded.secret)
        returning secret`,
  );
  return made!.secret;
}
