// Reading a service's /metrics the way Prometheus does: over a real socket, from the management listener.

/** One scrape of /metrics: the raw text, and the value of a series (0 when it was never written). */
export interface Scrape {
  text: string
  contentType: string | null
  /** The value of `name` whose labels include `labels`; summed over the matching series. */
  value(name: string, labels?: Record<string, string>): number
}

/** Starts the app's management listener on 127.0.0.1 (a free port); returns a function that scrapes it. */
export async function startScraping(app: {
  metrics: { listen(options: { host: string; port: number }): Promise<{ port: number }> }
}): Promise<() => Promise<Scrape>> {
  const { port } = await app.metrics.listen({ host: '127.0.0.1', port: 0 })
  return () => scrapeMetrics(`http://127.0.0.1:${port}/metrics`)
}

/** GET `url` (a management listener's /metrics), which must answer 200. */
export async function scrapeMetrics(url: string): Promise<Scrape> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  if (response.status !== 200) throw new Error(`GET ${url} answered ${response.status}`)
  const text = await response.text()
  const contentType = response.headers.get('content-type')
  return { text, contentType, value: (name, labels) => sumOf(text, name, labels) }
}

function sumOf(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const seriesLabels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((label) => [
        label[1],
        label[2],
      ]),
    )
    if (Object.entries(labels).every(([key, value]) => seriesLabels[key] === value)) sum += Number(match[3])
  }
  return sum
}
