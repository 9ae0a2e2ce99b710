// Preloaded into the hub process by the benchmarks when BENCH_HUB_PROFILE=DIR
// (`--cpu-prof` is not allowed in NODE_OPTIONS): on SIGUSR2 it starts sampling
// the main thread with the inspector (so that start-up is left out; with
// BENCH_HUB_PROFILE_AT_START=1 it starts at once), and when
// the process exits it writes DIR/hub-PID.cpuprofile. The in-process
// inspector session answers synchronously, so 'exit' can still write.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_HUB_PROFILE;
if (dir) {
  const session = new Session();
  session.connect();
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 500 });
    session.post('Profiler.start');
  };
  process.on('SIGUSR2', start);
  // A restarted hub is profiled from its first instruction: its start-up is what is measured.
  if (process.env.BENCH_HUB_PROFILE_AT_START) start();
  process.on('exit', () => {
    if (!started) return;
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(dir, `hub-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
