export * from './database-url.js'
export * from './engine.js'
export * from './open-database.js'
