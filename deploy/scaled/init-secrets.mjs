// The scaled compose's one-shot init service (docker-compose.scaled.yml, `init-secrets`): before anything else
// starts, it fills one volume per reader, so each container sees only its own secrets.
//   - the signing secret, for both services, chosen as the plain compose's init-secret chooses it: JWT_SECRET given,
//     else the compose secret /run/secrets/jwt_secret, else the one already in the volume, else a new random one;
//   - a password per database role (bank, retirement) and for the postgres superuser, kept across restarts, for the
//     postgres container's first-start script (postgres-init.sh);
//   - each service's DATABASE_URL, password included, for its DATABASE_URL_FILE: the bank's is never readable by
//     retirement, and no password is ever in an environment `docker inspect` shows.
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const serviceUid = 1000 // the `node` user of the service images
const postgresUid = 70 // the `postgres` user of the official postgres:*-alpine image (the Debian variants use 999)

const env = process.env
const jwtSecretFile = env.SECRET_FILE ?? '/run/sso-secret/jwt-secret'
const postgresSecretsDir = env.POSTGRES_SECRETS_DIR ?? '/run/postgres-secrets'
const databaseUrlFiles = {
  bank: env.BANK_DATABASE_URL_FILE ?? '/run/bank-db/database-url',
  retirement: env.RETIREMENT_DATABASE_URL_FILE ?? '/run/retirement-db/database-url',
}
const postgresHost = env.POSTGRES_HOST ?? 'postgres:5432'

function readIfPresent(path) {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    if (error.code === 'ENOENT') return undefined
    throw error
  }
}

// Written beside the target and renamed, so no reader ever sees half a secret; readable by its owner only. A partial
// file left by a run stopped after its chown belongs to its reader: it is removed, not rewritten (no DAC_OVERRIDE).
function install(path, content, uid) {
  mkdirSync(dirname(path), { recursive: true })
  const partial = `${path}.partial`
  rmSync(partial, { force: true })
  writeFileSync(partial, content, { mode: 0o600 })
  chmodSync(partial, 0o600)
  chownSync(partial, uid, uid)
  renameSync(partial, path)
}

// base64url: nothing a URL or psql would need to escape.
const newPassword = () => randomBytes(32).toString('base64url')

const supplied = env.JWT_SECRET || readIfPresent('/run/secrets/jwt_secret')?.trimEnd()
const current = readIfPresent(jwtSecretFile)
if (supplied) {
  if (Buffer.byteLength(supplied, 'utf8') < 32) {
    console.error('init-secrets: JWT_SECRET must be at least 32 bytes (openssl rand -base64 48 makes one)')
    process.exit(1)
  }
  if (supplied !== current) install(jwtSecretFile, supplied, serviceUid)
  console.log('init-secrets: using the signing secret you supplied')
} else if (current) {
  console.log('init-secrets: keeping the signing secret generated on first start')
} else {
  install(jwtSecretFile, randomBytes(48).toString('base64url'), serviceUid)
  console.log('init-secrets: generated a random signing secret')
}

// The postgres volume keeps the passwords its roles were created with; they are never regenerated, because
// PostgreSQL reads them only when its data volume is first initialised.
for (const role of ['postgres', 'bank', 'retirement']) {
  const passwordFile = join(postgresSecretsDir, `${role}-password`)
  let password = readIfPresent(passwordFile)
  if (!password) {
    password = newPassword()
    install(passwordFile, password, postgresUid)
    console.log(`init-secrets: generated a password for the ${role} role`)
  }
  if (role === 'postgres') continue
  // The role, and the database, are named after the service.
  install(databaseUrlFiles[role], `postgres://${role}:${password}@${postgresHost}/${role}`, serviceUid)
}
