/// <reference types="@fastify/swagger" preserve="true" />
import { STATUS_CODES } from 'node:http'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ErrorResponse } from './schemas.js'

/** Where each service serves its API description: the interactive page here, the document at `/docs/json`. */
export const API_DOCS_PREFIX = '/docs'

/** Whether a route (as registered, never the raw URL) belongs to the docs page, which has its own CSP. */
export function isApiDocsRoute(routeUrl: string | undefined): boolean {
  return routeUrl === API_DOCS_PREFIX || routeUrl?.startsWith(`${API_DOCS_PREFIX}/`) === true
}

/** The security requirement of a route that needs an access token: the Bearer header, or else the cookie. */
export const SIGNED_IN = [{ bearerToken: [] }, { accessTokenCookie: [] }] as const

export interface ApiDocsOptions {
  /** The document's title, e.g. "bank-sso: bank". */
  title: string
  /** One paragraph on what the service's API is for; rendered as Markdown by the page. */
  description: string
}

interface SchemaObject {
  type?: unknown
  anyOf?: SchemaObject[]
}
interface OpenApiOperation {
  requestBody?: { required?: boolean; content?: Record<string, { schema?: SchemaObject }> }
  responses?: Record<string, { description?: string }>
}
interface OpenApiDocument {
  paths?: Record<string, Record<string, OpenApiOperation>>
}

/**
 * A body schema that admits no body (`Type.Union([Type.Null(), Type.Undefined(), Type.Object(…)])`, as Fastify
 * needs to accept a body-less POST) is an optional request body in OpenAPI: the object alone, `required: false`.
 * JSON Schema has no `undefined` type, and @fastify/swagger always marks a body it knows as required.
 */
function describeOptionalBodies(document: OpenApiDocument) {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        const branches = media.schema?.anyOf
        if (!operation.requestBody || !branches?.some((branch) => branch.type === 'undefined')) continue
        const bodies = branches.filter((branch) => branch.type !== 'undefined' && branch.type !== 'null')
        media.schema = bodies.length === 1 ? bodies[0] : { anyOf: bodies }
        operation.requestBody.required = false
      }
      // @fastify/swagger names every response "Default Response" unless its schema has a description.
      for (const [statusCode, response] of Object.entries(operation.responses ?? {})) {
        if (response.description === 'Default Response') {
          response.description = statusCode === 'default' ? 'Any other error' : (STATUS_CODES[statusCode] ?? statusCode)
        }
      }
    }
  }
  return document
}

async function apiDocsPlugin(app: FastifyInstance, { title, description }: ApiDocsOptions) {
  // Registered before any route: @fastify/swagger collects each route's schemas as it is added (onRoute).
  await app.register(fastifySwagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema 2020-12, which TypeBox writes (`type: 'null'` included).
      openapi: '3.1.0',
      info: { title, description, version: '1.0.0' },
      components: {
        securitySchemes: {
          bearerToken: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: "The access token the bank's `POST /api/login` answers with. Wins over the cookie.",
          },
          accessTokenCookie: {
            type: 'apiKey',
            in: 'cookie',
            name: 'access_token',
            description: 'The same token, as the bank sets it at login; a browser sends it by itself.',
          },
        },
      },
    },
    // The document describes the service's JSON: pages, forms and files hide themselves (`schema.hide`).
    // Every error has one shape; a route lists the errors it decides, `default` covers the others (408, 413, 415, a
    // foreign Origin's 403, 500).
    transform: ({ schema, url }) => {
      if (schema?.hide || schema?.response === undefined) return { schema, url }
      const response = schema.response as Record<string, unknown>
      return { schema: { ...schema, response: { default: ErrorResponse, ...response } }, url }
    },
    transformObject: (documentObject) =>
      'openapiObject' in documentObject
        ? (describeOptionalBodies(
            documentObject.openapiObject as OpenApiDocument,
          ) as typeof documentObject.openapiObject)
        : documentObject.swaggerObject,
  })
  // The page's scripts and styles come from this service itself (no CDN); web-security gives `/docs*` its own CSP.
  await app.register(fastifySwaggerUi, {
    routePrefix: API_DOCS_PREFIX,
    // Swagger UI would otherwise send the whole document to validator.swagger.io.
    validatorUrl: false,
    theme: { title },
    // Without the top bar: its Swagger logo carries an inline <style> the CSP refuses, and its box loads any URL's
    // document into a page on this origin.
    uiConfig: { layout: 'BaseLayout' },
  })
}

/** `GET /docs`: the OpenAPI 3.1 description of the service's JSON API, built from the route schemas, and a page. */
export const apiDocs = fp(apiDocsPlugin, { name: 'sso-api-docs', fastify: '5.x' })
