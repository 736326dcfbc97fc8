// Tools run from the helper process: same answers as running them here
// (output, exit code, deadline, abort, a missing binary), and a host that dies
// hands its runs back to this process.
import { afterEach, describe, expect, it } from 'vitest';
import { ToolHost } from '../../src/media/tool-host.js';
import { ffprobePath } from '../../src/media/tools.js';

describe('tool host', () => {
  const hosts: ToolHost[] = [];
  const host = () => {
    const h = new ToolHost();
    hosts.push(h);
    return h;
  };
  afterEach(() => hosts.splice(0).forEach((h) => h.close()));

  it('runs a tool in the helper process and returns its output and exit code', async () => {
    const h = host();
    const run = await h.run(ffprobePath(), ['-version'], { timeoutMs: 20_000 });
    expect(run).toMatchObject({ code: 0, timedOut: false });
    expect(run.stdout).toMatch(/^ffprobe version/);
    expect(h.pid).toBeGreaterThan(0);
    expect(h.pid).not.toBe(process.pid);
    const failed = await h.run('sh', ['-c', 'echo oops >&2; exit 3'], { timeoutMs: 5000 });
    expect(failed).toMatchObject({ code: 3, stdout: '', stderr: 'oops\n', timedOut: false });
  });

  it('kills a run at its deadline, on abort, and when it prints too much', async () => {
    const h = host();
    expect(await h.run('sleep', ['5'], { timeoutMs: 200 })).toMatchObject({ code: null, timedOut: true });
    const ctrl = new AbortController();
    setTimeout(() => ctrl.abort(new Error('stop')), 100);
    await expect(h.run('sleep', ['5'], { timeoutMs: 5000, signal: ctrl.signal })).rejects.toThrow('stop');
    expect(await h.run('yes', [], { timeoutMs: 5000, maxStdout: 10_000 })).toMatchObject({ timedOut: true });
  });

  it('rejects with the spawn error for a missing binary', async () => {
    await expect(host().run('/nonexistent/tool', [], { timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('runs here when the helper dies mid-run, and starts a new helper for later runs', async () => {
    const h = host();
    await h.run('true', [], { timeoutMs: 5000 });
    const first = h.pid!;
    const pending = h.run('sh', ['-c', 'sleep 0.3; echo done'], { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    process.kill(first, 'SIGKILL');
    expect(await pending).toMatchObject({ code: 0, stdout: 'done\n' });
    await h.run('true', [], { timeoutMs: 5000 });
    expect(h.pid).toBeDefined();
    expect(h.pid).not.toBe(first);
  });
});
