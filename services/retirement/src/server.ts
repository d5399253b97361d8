// The only file that reads process.env: configuration in, a listening service out, until SIGTERM/SIGINT.
import { buildAppOrExit, loadConfigOrExit, serveUntilStopped } from '@sso/shared'
import { buildApp } from './app.js'
import { loadRetirementConfig } from './config.js'

const config = loadConfigOrExit(() => loadRetirementConfig(process.env))
await serveUntilStopped(await buildAppOrExit(() => buildApp(config)), config)
