// `@sso/shared/testing`: what tests of both services and e2e share. Never part of the production build
// (shared/tsconfig.json excludes this folder) nor of an image.
export * from './accounts.js'
export * from './api-document.js'
export * from './metrics.js'
export * from './tokens.js'
