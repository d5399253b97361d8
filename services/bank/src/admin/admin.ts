// The admin command's entry point (`npm run admin -- <command>`, or `node dist/admin/admin.js <command>` in the bank's
// container): the only part that touches process.argv, process.env and the exit code.
import { main } from './admin-cli.js'

process.exitCode = await main(process.argv.slice(2), process.env, { stdout: process.stdout, stderr: process.stderr })
