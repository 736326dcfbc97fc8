// Handing tasks back on shutdown, many per statement: a runner holding
// thousands of jobs releases them in a few transactions within the shutdown
// timeout, not one transaction per task.
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { releaseTasks } from './transitions.js';

export class ReleaseBatch {
  private ids: string[] = [];
  private waiting: Array<() => void> = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly owner: string,
    private readonly log: Logger,
    /** Where the runner's many-row writes run one at a time (see progress-writer.ts). */
    private readonly serial: <T>(fn: () => Promise<T>) => Promise<T>,
    private readonly gatherMs = 20,
  ) {}

  /** Resolves once the task was handed back (or could not be: it is then resumed when its lease lapses). */
  release(taskId: string): Promise<void> {
    this.ids.push(taskId);
    this.timer ??= setTimeout(() => void this.flush(), this.gatherMs);
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const ids = this.ids.splice(0);
    const waiting = this.waiting.splice(0);
    try {
      await this.serial(() => releaseTasks(this.db, this.owner, ids));
    } catch (err) {
      this.log.warn({ err, tasks: ids.length }, 'handing tasks back failed; they resume when their leases lapse');
    }
    for (const w of waiting) w();
  }
}
