// Group commit: calls that arrive while the writes in flight (at most `lanes`)
// are busy wait for one of them to end and then go out together as one write
// (one statement, one commit, one WAL flush). With a lane free a call goes out
// at once, so a lone caller waits for nothing. Used where commits queue behind
// each other anyway (a transaction that NOTIFYs holds a database-wide lock
// until its commit is on disk): batching turns N flushes in a row into one,
// and nothing is made less durable.

/** What `write` answers for each item, in order: its result, or its own error. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export class GroupCommit<T, R> {
  private waiting: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;

  /**
   * `write` stores a batch (1 to `max` items) and answers one outcome per item;
   * if it throws, every member of that batch fails with that error. At most
   * `lanes` writes are in flight at once.
   */
  constructor(
    private readonly write: (items: T[]) => Promise<Array<Outcome<R>>>,
    private readonly max = 100,
    private readonly lanes = 1,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.lanes && this.waiting.length) {
      const batch = this.waiting.splice(0, this.max);
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async run(batch: typeof this.waiting): Promise<void> {
    let outcomes: Array<Outcome<R>>;
    try {
      outcomes = await this.write(batch.map((b) => b.item));
    } catch (error) {
      outcomes = batch.map(() => ({ ok: false, error }));
    }
    batch.forEach((b, i) => {
      const o = outcomes[i] ?? { ok: false, error: new Error('group commit: no outcome for a batch member') };
      if (o.ok) b.resolve(o.value);
      else b.reject(o.error);
    });
  }
}
