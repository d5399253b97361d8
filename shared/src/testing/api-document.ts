import { Validator } from '@seriousme/openapi-schema-validator'
import type { FastifyInstance } from 'fastify'

export interface Operation {
  security?: Array<Record<string, string[]>>
  parameters?: Array<{ in: string; name: string; required?: boolean; schema?: object }>
  requestBody?: { required?: boolean; content?: Record<string, { schema?: object }> }
  responses: Record<string, { description: string; content?: Record<string, { schema?: SchemaObject }> }>
}
export interface SchemaObject {
  type?: string
  properties?: Record<string, SchemaObject>
  required?: string[]
}
// A type, not an interface: the validator takes any object with string keys.
export type OpenApiDocument = {
  openapi: string
  paths: Record<string, Record<string, Operation>>
}

/** `GET /docs/json`, checked against the official OpenAPI schema of its version; throws with the validator's errors. */
export async function fetchValidApiDocument(app: FastifyInstance): Promise<OpenApiDocument> {
  const response = await app.inject({ url: '/docs/json' })
  if (response.statusCode !== 200) throw new Error(`GET /docs/json answered ${response.statusCode}`)
  const document = response.json() as OpenApiDocument
  const validator = new Validator()
  const result = await validator.validate(structuredClone(document))
  if (!result.valid) throw new Error(`not a valid OpenAPI document: ${JSON.stringify(result.errors, null, 2)}`)
  return document
}

/** Every operation of the document, as `METHOD /path` with OpenAPI's `{param}`s. */
export function documentedOperations(document: OpenApiDocument): Map<string, Operation> {
  const operations = new Map<string, Operation>()
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods))
      operations.set(`${method.toUpperCase()} ${path}`, operation)
  }
  return operations
}

/**
 * Every route the app registered, as `METHOD /path` with OpenAPI's `{param}`s (HEAD left out: Fastify adds it to
 * every GET). Read from `app.printRoutes({ commonPrefix: false })`, Fastify's only public listing: each line is a
 * node of the routing tree, indented four characters per level, whose full path is its ancestors' segments joined.
 */
export function registeredRoutes(app: FastifyInstance): string[] {
  const routes: string[] = []
  const pathAtDepth: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const node = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!node) continue
    const [, indent = '', segment = '', methods] = node
    const depth = indent.length / 4
    const path = (pathAtDepth[depth - 1] ?? '') + segment
    pathAtDepth[depth] = path
    pathAtDepth.length = depth + 1
    for (const method of methods?.split(', ') ?? []) {
      if (method !== 'HEAD') routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`)
    }
  }
  return routes
}

/** Whether a schema is the shared error shape `{status: 'error', error, code?}` of docs/spec.md#errors. */
export function isErrorShape(schema: SchemaObject | undefined): boolean {
  return (
    schema?.type === 'object' &&
    JSON.stringify(schema.properties?.status ?? null).includes('"error"') &&
    schema.properties?.error?.type === 'string' &&
    schema.required?.includes('error') === true
  )
}

/**
 * What an operation of the document lacks, in sentences (none: complete): a schema for each path parameter, for a
 * body it takes, for its success answer (a 204 has none) and the shared error shape for its failures.
 */
export function describeMissingSchemas(key: string, operation: Operation, { takesBody }: { takesBody: boolean }) {
  const problems: string[] = []
  const path = key.split(' ')[1] ?? ''
  for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
    const parameter = operation.parameters?.find((candidate) => candidate.in === 'path' && candidate.name === name)
    if (!parameter?.required || !parameter.schema) problems.push(`${key}: no schema for the path parameter ${name}`)
  }
  const bodySchemas = Object.values(operation.requestBody?.content ?? {}).filter((media) => media.schema)
  if (takesBody && bodySchemas.length === 0) problems.push(`${key}: no request body schema`)
  const statuses = Object.keys(operation.responses)
  const successes = statuses.filter((status) => /^2\d\d$/.test(status))
  if (successes.length === 0) problems.push(`${key}: no success response`)
  for (const status of successes) {
    const schema = operation.responses[status]?.content?.['application/json']?.schema
    if (status !== '204' && !schema) problems.push(`${key}: no schema for ${status}`)
  }
  const failures = statuses.filter((status) => status === 'default' || /^[45]\d\d$/.test(status))
  if (!failures.includes('default')) problems.push(`${key}: no default error response`)
  for (const status of failures) {
    if (!isErrorShape(operation.responses[status]?.content?.['application/json']?.schema)) {
      problems.push(`${key}: ${status} is not the shared error shape`)
    }
  }
  return problems
}
