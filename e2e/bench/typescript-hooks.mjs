// Module hooks that let Node 20 run the benchmark's TypeScript as it is, with the compiler the repository already
// has: each .ts file is transpiled on load (types erased, nothing checked: `npm run typecheck` does that), and a
// relative `./x.js` import resolves to `./x.ts` when only the source exists, as in the rest of the repository.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const compilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2023,
  verbatimModuleSyntax: true,
  inlineSourceMap: true,
}

function isOwnTypeScript(url) {
  return url.startsWith('file:') && url.endsWith('.ts') && !url.endsWith('.d.ts') && !url.includes('/node_modules/')
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context)
  } catch (error) {
    const fromTypeScript = context.parentURL !== undefined && isOwnTypeScript(context.parentURL)
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !fromTypeScript || !/^\.\.?\/.*\.js$/.test(specifier)) throw error
    return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
  }
}

export async function load(url, context, nextLoad) {
  if (!isOwnTypeScript(url)) return nextLoad(url, context)
  const fileName = fileURLToPath(url)
  const { outputText } = ts.transpileModule(await readFile(fileName, 'utf8'), { compilerOptions, fileName })
  return { format: 'module', source: outputText, shortCircuit: true }
}
