// `node --import ./bench/register-typescript.mjs bench/run.ts`: Node 20 has no type stripping of its own.
import { register } from 'node:module'

register('./typescript-hooks.mjs', import.meta.url)
