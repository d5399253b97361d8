import { CommonConfig, loadConfig } from '@sso/shared'
import { type Static, Type } from 'typebox'

/** The bank's settings: the common ones plus the lifetimes of the tokens it issues, in seconds. */
export const BankConfig = Type.Object({
  ...CommonConfig.properties,
  ACCESS_TOKEN_TTL: Type.Integer({ minimum: 1 }),
  REFRESH_TOKEN_TTL: Type.Integer({ minimum: 1 }),
})
export type BankConfig = Static<typeof BankConfig>

/** Reads the bank's settings from the environment; throws a ConfigError naming the first bad variable. */
export function loadBankConfig(env: NodeJS.ProcessEnv): BankConfig {
  return loadConfig(BankConfig, env, {
    PORT: 3000,
    DATABASE_PATH: 'data/bank.sqlite',
    ACCESS_TOKEN_TTL: 900,
    REFRESH_TOKEN_TTL: 604_800,
  })
}
