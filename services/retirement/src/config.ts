import { CommonConfig, loadConfig, type ServiceDefaults } from '@sso/shared'
import { type Static, Type } from 'typebox'

/** Retirement needs nothing beyond the settings both services share; it never issues tokens. */
export const RetirementConfig = Type.Object({ ...CommonConfig.properties })
export type RetirementConfig = Static<typeof RetirementConfig>

const retirementDefaults: ServiceDefaults = { PORT: 3001, DATABASE_PATH: 'data/retirement.sqlite' }

/** Reads and checks the settings once at start; throws a ConfigError naming the first wrong variable. */
export function loadRetirementConfig(env: NodeJS.ProcessEnv): RetirementConfig {
  return loadConfig(RetirementConfig, env, retirementDefaults)
}
