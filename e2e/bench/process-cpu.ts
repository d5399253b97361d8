// CPU time of the processes a bench measures, from /proc (Linux only, as the bench is).
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100

/** User + system CPU seconds a process has used so far, all its threads included (proc(5), fields 14 and 15). */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond
}

/**
 * CPU seconds of a PostgreSQL server so far: its postmaster and every process it forked (the backends serving the
 * services' pools, the WAL writer…). On PostgreSQL the work of a login or a refresh is split between the bank and
 * these, so both are counted. Backends that have exited take their CPU time with them; the pools keep theirs open.
 */
export function readPostgresCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  let seconds = readCpuSeconds(postmaster)
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (parent === postmaster) seconds += readCpuSeconds(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return seconds
}
