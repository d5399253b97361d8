import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import ipaddr from 'ipaddr.js'

// Who the client is, for audit lines, request logs and per-address budgets. Fastify's `request.ip` believes
// X-Forwarded-For only from TRUST_PROXY, but takes whatever string the trusted hop wrote there: a proxy that
// forwards a client's own header unchecked would hand us "anything, ☃" as an address.

/**
 * The client's address: `request.ip` when it is an IP address, else the socket's (the trusted hop's own address,
 * the one thing about this request nobody can make up); an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4
 * one, so a dual-stack listener reports each IPv4 client one way.
 */
export function clientAddressOf(request: FastifyRequest): string {
  const parsed = parseAddress(request.ip) ?? parseAddress(request.socket.remoteAddress)
  if (!parsed) return 'unknown'
  if (parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()) return parsed.toIPv4Address().toString()
  return parsed.toString()
}

/** How many leading bits of an IPv6 address name one client: a /64 is what one home or one server is given. */
const IPV6_CLIENT_PREFIX_BITS = 64

/**
 * The key of every per-address budget (login, sign-up, refresh): the client's IPv4 address, or its IPv6 /64 (one
 * host picks any of its 2⁶⁴ addresses at will, so a budget per address would be no budget at all).
 * @fastify/rate-limit's default key does the same, but its function is not exported and the refresh budget needs
 * its own key, so every budget uses this one.
 */
export function clientAddressKey(request: FastifyRequest): string {
  const address = clientAddressOf(request)
  const parsed = parseAddress(address)
  if (!(parsed instanceof ipaddr.IPv6)) return address
  const parts = parsed.parts.map((part, index) => (index < IPV6_CLIENT_PREFIX_BITS / 16 ? part : 0))
  return `${new ipaddr.IPv6(parts).toString()}/${IPV6_CLIENT_PREFIX_BITS}`
}

function parseAddress(address: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  // Node's strict check first: ipaddr.js also parses old forms such as "0x7f.1" and "127.1", which no proxy writes.
  return address !== undefined && isIP(address) !== 0 ? ipaddr.parse(address) : undefined
}
