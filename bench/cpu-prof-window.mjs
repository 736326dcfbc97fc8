// Preloaded into the jobs bench's reelay process (`--import`) by `--cpu-prof`:
// the first SIGUSR2 starts a CPU profile, the second writes it to
// $REELAY_CPU_PROF_DIR, so the profile covers only the bench's polling window
// (node's own --cpu-prof covers the whole life: start-up, submissions, result downloads).
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector';

const dir = process.env.REELAY_CPU_PROF_DIR ?? '.';
let session = null;
process.on('SIGUSR2', () => {
  if (!session) {
    session = new Session();
    session.connect();
    session.post('Profiler.enable', () => session.post('Profiler.start'));
    return;
  }
  const s = session;
  s.post('Profiler.stop', (err, res) => {
    if (!err) {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `window-${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    }
    s.disconnect();
  });
});
