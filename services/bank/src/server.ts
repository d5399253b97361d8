// The only file that reads process.env: configuration in, a listening service out, until SIGTERM/SIGINT.
import { buildAppOrExit, loadConfigOrExit, serveUntilStopped } from '@sso/shared'
import { buildApp } from './app.js'
import { loadBankConfig } from './config.js'

const config = loadConfigOrExit(() => loadBankConfig(process.env))
await serveUntilStopped(await buildAppOrExit(() => buildApp(config)), config)
