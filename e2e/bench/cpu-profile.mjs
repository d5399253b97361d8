// Preloaded into each service by `BENCH_CPU_PROF_DIR=dir npm run bench` (Node 20 refuses --cpu-prof in
// NODE_OPTIONS): profiles the whole process and writes dir/<service>-<pid>.cpuprofile when it exits, for Chrome
// DevTools' Performance panel or any .cpuprofile viewer.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { basename, dirname, join } from 'node:path'

const directory = process.env.BENCH_CPU_PROF_DIR
if (directory) {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 100 })
  session.post('Profiler.start')
  process.once('exit', () => {
    // A session in the same thread answers synchronously, so the profile is written before the process ends.
    session.post('Profiler.stop', (error, result) => {
      if (error) return
      const service = basename(dirname(dirname(process.argv[1] ?? 'unknown')))
      writeFileSync(join(directory, `${service}-${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
