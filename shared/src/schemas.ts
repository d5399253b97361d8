import { type TSchema, Type } from 'typebox'

/** The failure body of every `/api` answer. */
export const ErrorResponse = Type.Object({
  status: Type.Literal('error'),
  error: Type.String(),
  code: Type.Optional(Type.String()),
})

/** The success body of every `/api` answer: `{"status":"ok","data":…}`. */
export function Ok<Data extends TSchema>(data: Data) {
  return Type.Object({ status: Type.Literal('ok'), data })
}

/** A user as both services show it: the token's `sub` and `username`. */
export const PublicUser = Type.Object({ id: Type.String(), username: Type.String() })

/** `GET /healthz` of both services. */
export const HealthResponse = Type.Object({ status: Type.Literal('ok') })
