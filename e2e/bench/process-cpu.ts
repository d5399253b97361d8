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

/** CPU seconds of a process's children that have exited and been waited for (proc(5), fields 16 and 17). */
function readReapedChildrenCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) / clockTicksPerSecond
}

/**
 * CPU seconds of a PostgreSQL server so far: its postmaster, every process it forked that is still running (the
 * backends serving the services' pools, the WAL writer…), and those that have exited (the postmaster reaps them, so
 * their time is in its children's fields). On PostgreSQL the work of a login or a refresh is split between the bank
 * and these, so both are counted. Counting the exited ones matters: a pool closes idle connections, and without them
 * a backend ending during a measurement took its whole lifetime's CPU off the difference (negative figures were seen).
 */
export function readPostgresCpuSeconds(dataDir: string): number {
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
  let seconds = readCpuSeconds(postmaster) + readReapedChildrenCpuSeconds(postmaster)
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
