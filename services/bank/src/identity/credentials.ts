import type { FastifyRequest, FastifySchemaValidationError } from 'fastify'
import { type Static, Type } from 'typebox'
import { Compile } from 'typebox/compile'

// The rules of docs/spec.md#usernames-and-passwords, applied to values already normalised by `normalizeCredentials`: NFKC then lowercase,
// and never trimmed, so " alice" is refused rather than silently becoming someone else's name.
export const Username = Type.String({ pattern: '^[a-z0-9_.-]{3,32}$' })
// Lengths count Unicode code points. Never truncated: a 129th character is an error, not ignored.
export const Password = Type.String({ minLength: 8, maxLength: 128, pattern: '^[^\\u0000]*$' })
export const Credentials = Type.Object({ username: Username, password: Password }, { additionalProperties: false })
export type Credentials = Static<typeof Credentials>

/** NFKC makes look-alike spellings ("ａｌｉｃｅ", "ALICE") one name; lowercase makes names case-insensitive. */
export function normalizeUsername(username: string): string {
  return username.normalize('NFKC').toLowerCase()
}

/** The same password typed on different keyboards (composed or decomposed accents) must hash alike. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC')
}

/**
 * A `preValidation` hook: normalises `username` and `password` in the parsed body before the schema checks them,
 * so the schema states the rules for the values actually stored and compared.
 */
export async function normalizeCredentials(request: FastifyRequest) {
  const body = request.body
  if (typeof body !== 'object' || body === null) return
  const fields = body as Record<string, unknown>
  if (typeof fields.username === 'string') fields.username = normalizeUsername(fields.username)
  if (typeof fields.password === 'string') fields.password = normalizePassword(fields.password)
}

const USERNAME_RULE = 'A username is 3 to 32 characters: letters a-z, digits, ".", "_" or "-".'
const PASSWORD_RULE = 'A password is 8 to 128 characters and cannot contain a NUL character.'
const RULES_BY_FIELD: Record<string, string> = { '/username': USERNAME_RULE, '/password': PASSWORD_RULE }

/**
 * A route's `schemaErrorFormatter`: a string that breaks a credentials rule is answered with the rule in a sentence,
 * anything else (a missing field, a wrong type, an extra property) with the schema's own words.
 */
export function formatCredentialsErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const first = errors[0]
  const rule =
    first && ['pattern', 'minLength', 'maxLength'].includes(first.keyword) && RULES_BY_FIELD[first.instancePath]
  return new Error(rule || errors.map((error) => `${dataVar}${error.instancePath} ${error.message}`).join(', '))
}

const usernameValidator = Compile(Username)
const passwordValidator = Compile(Password)

/** For forms: normalises both fields and says in a sentence what is wrong, if anything. */
export function checkCredentials(
  username: string,
  password: string,
): { credentials: Credentials; problem?: undefined } | { credentials?: undefined; problem: string } {
  const credentials = { username: normalizeUsername(username), password: normalizePassword(password) }
  if (!usernameValidator.Check(credentials.username)) {
    return { problem: USERNAME_RULE }
  }
  if (!passwordValidator.Check(credentials.password)) {
    return { problem: PASSWORD_RULE }
  }
  return { credentials }
}
